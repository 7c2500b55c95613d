fn main() -> std::process::ExitCode {
    devrig::cli::run()
}
