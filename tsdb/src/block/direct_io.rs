//! Block files read with O_DIRECT, so block reads never fill (or depend on) the OS page
//! cache: aligned buffers, aligned offsets and lengths. A file system that refuses O_DIRECT
//! (tmpfs answers EINVAL) gets buffered reads for that file instead; the caller counts and
//! logs that (`DirectFile::open` and `read_aligned` report it).

use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Alignment of O_DIRECT buffers, offsets and lengths: the largest logical block size in
/// common use (4Kn disks), a multiple of the 512-byte one.
pub const IO_ALIGN_BYTES: usize = 4096;
/// Bytes per read when a whole file (a block's `index`) is loaded.
const WHOLE_FILE_READ_BYTES: usize = 1 << 20;

#[repr(C, align(4096))]
#[derive(Clone, Copy)]
struct AlignedUnit([u8; IO_ALIGN_BYTES]);

/// A zeroed heap buffer whose start and length are multiples of `IO_ALIGN_BYTES`.
pub struct AlignedBuf {
    units: Box<[AlignedUnit]>,
}

impl AlignedBuf {
    /// A buffer of at least `bytes` bytes (rounded up to the alignment).
    pub fn zeroed(bytes: usize) -> AlignedBuf {
        let units = bytes.div_ceil(IO_ALIGN_BYTES).max(1);
        AlignedBuf {
            units: vec![AlignedUnit([0; IO_ALIGN_BYTES]); units].into_boxed_slice(),
        }
    }

    pub fn len_bytes(&self) -> usize {
        self.units.len() * IO_ALIGN_BYTES
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `AlignedUnit` is `repr(C)` over a byte array with no padding (its size
        // equals its alignment), so the units are `len()` contiguous, initialised bytes.
        unsafe { std::slice::from_raw_parts(self.units.as_ptr().cast::<u8>(), self.len_bytes()) }
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len_bytes();
        // SAFETY: as in `as_bytes`; the exclusive borrow of `self` makes the slice unique.
        unsafe { std::slice::from_raw_parts_mut(self.units.as_mut_ptr().cast::<u8>(), len) }
    }
}

/// One read-only block file, O_DIRECT when the file system allows it.
pub struct DirectFile {
    path: PathBuf,
    file: RefCell<File>,
    direct: Cell<bool>,
    size_bytes: u64,
}

fn is_direct_refusal(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

fn open_buffered(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|e| Error::io("open", path, e))
}

impl DirectFile {
    /// Opens `path`; the flag is true when O_DIRECT was refused and the file reads buffered.
    /// `NotFound` keeps its kind so callers can stop at the last file of a sequence.
    pub fn open(path: &Path) -> Result<(DirectFile, bool), Error> {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path);
        #[cfg(feature = "fault-injection")]
        let opened = match opened {
            Ok(_) if crate::fault::take(|f| *f == crate::fault::Fault::DirectIoRefused).is_some() => {
                Err(crate::fault::os_error(libc::EINVAL))
            }
            other => other,
        };
        let (file, fell_back) = match opened {
            Ok(file) => (file, false),
            Err(e) if is_direct_refusal(&e) => (open_buffered(path)?, true),
            Err(e) => return Err(Error::io("open", path, e)),
        };
        let size_bytes = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        Ok((
            DirectFile {
                path: path.to_path_buf(),
                file: RefCell::new(file),
                direct: Cell::new(!fell_back),
                size_bytes,
            },
            fell_back,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    #[cfg(test)]
    pub fn is_direct(&self) -> bool {
        self.direct.get()
    }

    /// Reads `[offset, offset + want)` into the start of `buf` (`offset` aligned, `want` ≤
    /// `buf.len_bytes()` and inside the file). Returns true when this read found O_DIRECT refused
    /// and switched the file to buffered reads.
    pub fn read_aligned(&self, offset: u64, want: usize, buf: &mut AlignedBuf) -> Result<bool, Error> {
        debug_assert_eq!(offset % IO_ALIGN_BYTES as u64, 0, "direct reads start aligned");
        debug_assert!(want <= buf.len_bytes(), "the buffer holds the read");
        debug_assert!(offset + want as u64 <= self.size_bytes, "reads stay inside the file");
        if self.direct.get() {
            // One aligned read: O_DIRECT on a regular file is short only at end of file.
            let len = want.div_ceil(IO_ALIGN_BYTES) * IO_ALIGN_BYTES;
            let result = self.file.borrow().read_at(&mut buf.as_bytes_mut()[..len], offset);
            match result {
                Ok(n) if n >= want => return Ok(false),
                Ok(n) => {
                    return Err(Error::corrupt(
                        &self.path,
                        format!("short read at {offset}: {n} of {want} bytes (file changed?)"),
                    ))
                }
                Err(e) if is_direct_refusal(&e) => {
                    *self.file.borrow_mut() = open_buffered(&self.path)?;
                    self.direct.set(false);
                    self.read_buffered(offset, &mut buf.as_bytes_mut()[..want])?;
                    return Ok(true);
                }
                Err(e) => return Err(Error::io("read", &self.path, e)),
            }
        }
        self.read_buffered(offset, &mut buf.as_bytes_mut()[..want])?;
        Ok(false)
    }

    fn read_buffered(&self, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        self.file
            .borrow()
            .read_exact_at(out, offset)
            .map_err(|e| Error::io("read", &self.path, e))
    }

    /// The whole file, read in aligned pieces (a block's `index`, kept in memory).
    pub fn read_all(&self) -> Result<(Vec<u8>, bool), Error> {
        let size = usize::try_from(self.size_bytes)
            .map_err(|_| Error::corrupt(&self.path, "file too large for memory"))?;
        let mut out = Vec::with_capacity(size);
        let mut buf = AlignedBuf::zeroed(WHOLE_FILE_READ_BYTES.min(size.max(1)));
        let mut fell_back = false;
        while out.len() < size {
            let want = (size - out.len()).min(buf.len_bytes());
            fell_back |= self.read_aligned(out.len() as u64, want, &mut buf)?;
            out.extend_from_slice(&buf.as_bytes()[..want]);
        }
        Ok((out, fell_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned() {
        for bytes in [1, 4096, 4097, 65536] {
            let b = AlignedBuf::zeroed(bytes);
            assert_eq!(b.as_bytes().as_ptr() as usize % IO_ALIGN_BYTES, 0);
            assert_eq!(b.len_bytes() % IO_ALIGN_BYTES, 0);
            assert!(b.len_bytes() >= bytes);
        }
    }

    /// Whole-file reads equal the file on the test's file system (ext4: O_DIRECT) and on
    /// /dev/shm (tmpfs: O_DIRECT refused on older kernels, buffered fallback).
    #[test]
    fn read_all_equals_the_file_with_or_without_o_direct() {
        let bytes: Vec<u8> = (0..(3 * WHOLE_FILE_READ_BYTES + 123)).map(|i| (i * 7 % 251) as u8).collect();
        let disk = tempfile::tempdir().expect("tempdir");
        let mut dirs = vec![disk.path().to_path_buf()];
        let shm = std::path::Path::new("/dev/shm").is_dir().then(|| tempfile::tempdir_in("/dev/shm").expect("tempdir"));
        dirs.extend(shm.as_ref().map(|d| d.path().to_path_buf()));
        for dir in dirs {
            for len in [0, 1, 4096, 5000, bytes.len()] {
                let path = dir.join(format!("f{len}"));
                std::fs::write(&path, &bytes[..len]).expect("write");
                let (file, fell_back) = DirectFile::open(&path).expect("open");
                assert_eq!(file.is_direct(), !fell_back);
                let (read, _) = file.read_all().expect("read");
                assert!(read == bytes[..len], "{} bytes in {}", len, dir.display());
            }
        }
    }
}
