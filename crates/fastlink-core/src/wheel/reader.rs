//! One open wheel, read by many workers at once.
//!
//! A `File` has one offset, so workers sharing it would serialize (or read
//! each other's bytes). Each clone of [`SharedFile`] keeps its own offset
//! and reads with pread(2), so cloning the parsed `ZipArchive` (which shares
//! its central directory) gives a worker its own reader for one `open`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// The wheel file and this reader's offset in it.
#[derive(Debug, Clone)]
pub struct SharedFile {
    file: Arc<File>,
    len: u64,
    offset: u64,
}

impl SharedFile {
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(SharedFile {
            file: Arc::new(file),
            len,
            offset: 0,
        })
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read_at(buf, self.offset)?;
        self.offset += read as u64;
        Ok(read)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let offset = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.offset.checked_add_signed(delta),
        };
        self.offset = offset
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn clones_read_independently() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let mut a = SharedFile::new(file).unwrap();
        let mut b = a.clone();
        let mut buf = [0; 3];
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"012");
        b.seek(SeekFrom::End(-3)).unwrap();
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"789");
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"345");
        assert!(a.seek(SeekFrom::Current(-7)).is_err());
    }
}
