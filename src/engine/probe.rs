//! Running a service's healthcheck test ourselves, through exec, so
//! readiness is seen within a probe interval of the service being ready
//! instead of after Docker's next healthcheck interval.

use super::{Engine, EngineError};
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    Failed {
        exit_code: Option<i64>,
        output: String,
    },
}

/// The healthcheck `test` as an exec command: `CMD` runs as is, `CMD-SHELL`
/// through `/bin/sh -c`. `None` for `NONE` or an empty test.
pub fn command(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, rest) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        (kind, [script]) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), script.clone()])
        }
        _ => None,
    }
}

/// Runs `cmd` in `container`; a probe that outlives `timeout` fails.
pub async fn run(
    engine: &Engine,
    container: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<Outcome, EngineError> {
    let exec = engine
        .docker
        .create_exec(
            container,
            ExecConfig {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| EngineError::api(&engine.endpoint, format!("probing {container}"), e))?;
    let started = engine
        .docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| EngineError::api(&engine.endpoint, format!("probing {container}"), e))?;
    let mut output = String::new();
    if let StartExecResults::Attached {
        output: mut stream, ..
    } = started
    {
        let read = async {
            while let Some(Ok(chunk)) = stream.next().await {
                // Keep the tail only: a chatty probe must not grow memory.
                output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                if output.len() > 4096 {
                    let cut = output.len() - 2048;
                    let cut = (cut..output.len())
                        .find(|i| output.is_char_boundary(*i))
                        .unwrap_or(0);
                    output.drain(..cut);
                }
            }
        };
        if tokio::time::timeout(timeout, read).await.is_err() {
            return Ok(Outcome::Failed {
                exit_code: None,
                output: format!("probe timed out after {}s", timeout.as_secs_f32()),
            });
        }
    }
    let inspect = engine
        .docker
        .inspect_exec(&exec.id)
        .await
        .map_err(|e| EngineError::api(&engine.endpoint, format!("probing {container}"), e))?;
    Ok(match inspect.exit_code {
        Some(0) => Outcome::Passed,
        code => Outcome::Failed {
            exit_code: code,
            output: output.trim().to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn test_forms() {
        assert_eq!(
            command(&s(&["CMD", "pg_isready", "-U", "x"])),
            Some(s(&["pg_isready", "-U", "x"]))
        );
        assert_eq!(
            command(&s(&["CMD-SHELL", "redis-cli ping | grep PONG"])),
            Some(s(&["/bin/sh", "-c", "redis-cli ping | grep PONG"]))
        );
        assert_eq!(command(&s(&["NONE"])), None);
        assert_eq!(command(&s(&["CMD"])), None);
        assert_eq!(command(&[]), None);
    }
}
