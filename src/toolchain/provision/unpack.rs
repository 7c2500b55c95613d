//! Unpacking a downloaded tarball (`.tar.gz`, `.tar.xz` or plain `.tar`,
//! told apart by their first bytes, not their names) into a new directory.
//! The tar crate refuses entries that would land outside it (`..`,
//! absolute paths, writes through links); modes and symlinks are kept, as
//! Node's `bin/npm -> ../lib/node_modules/npm/bin/npm-cli.js` needs.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// Unpacks `archive` into the directory `into` (created).
pub(crate) fn unpack(archive: &Path, into: &Path) -> io::Result<()> {
    let mut file = File::open(archive)?;
    let mut magic = [0u8; 6];
    let n = file.read(&mut magic)?;
    file.rewind()?;
    let file = BufReader::with_capacity(1 << 20, file);
    let reader: Box<dyn Read> = match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(file)),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00] => Box::new(liblzma::read::XzDecoder::new(file)),
        _ => Box::new(file),
    };
    std::fs::create_dir_all(into)?;
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_unpack_xattrs(false);
    tar.unpack(into)
}

/// The one directory at the top of an unpacked archive
/// (`node-v22.11.0-linux-x64/`, npm's `package/`): what sentry-devenv's
/// strip-one-component keeps. `None` when the top holds anything else.
pub(crate) fn single_top(dir: &Path) -> io::Result<Option<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    if entries.len() != 1 {
        return Ok(None);
    }
    let entry = entries.pop().expect("one entry");
    Ok(entry.file_type()?.is_dir().then(|| entry.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(dir: &Path, gz: bool) -> PathBuf {
        let path = dir.join(if gz { "a.tar.gz" } else { "a.tar" });
        let file = File::create(&path).unwrap();
        let writer: Box<dyn io::Write> = if gz {
            Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::fast(),
            ))
        } else {
            Box::new(file)
        };
        let mut tar = tar::Builder::new(writer);
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, "top/bin/tool", &b"hi\n"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        tar.append_link(&mut link, "top/bin/alias", "tool").unwrap();
        tar.into_inner().unwrap().flush().unwrap();
        path
    }

    use std::io::Write;

    #[test]
    fn unpacks_gzip_and_plain_keeping_modes_and_links() {
        for gz in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let archive = tarball(dir.path(), gz);
            let into = dir.path().join("out");
            unpack(&archive, &into).unwrap();
            let top = single_top(&into).unwrap().expect("one top dir");
            assert_eq!(top, into.join("top"));
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(top.join("bin/tool"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
            assert_eq!(
                std::fs::read_link(top.join("bin/alias")).unwrap(),
                Path::new("tool")
            );
        }
    }

    #[test]
    fn unpacks_xz() {
        let dir = tempfile::tempdir().unwrap();
        let plain = tarball(dir.path(), false);
        let xz = dir.path().join("a.tar.xz");
        let mut encoder = liblzma::write::XzEncoder::new(File::create(&xz).unwrap(), 1);
        io::copy(&mut File::open(plain).unwrap(), &mut encoder).unwrap();
        encoder.finish().unwrap();
        unpack(&xz, &dir.path().join("out")).unwrap();
        assert!(dir.path().join("out/top/bin/tool").is_file());
    }

    #[test]
    fn several_top_entries_are_not_one_top() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("b"), "").unwrap();
        assert_eq!(single_top(dir.path()).unwrap(), None);
    }
}
