//! The per-shard page cache of block files (chunk segments, and the series entries and
//! postings lists of indexes): fixed 64 KiB aligned pages keyed by (block, file, page),
//! CLOCK eviction, a capacity in pages that is never exceeded.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use super::direct_io::{AlignedBuf, DirectFile};
use crate::error::Error;

/// Bytes per cache page. 64 KiB: a multiple of every O_DIRECT alignment; chunks of a block
/// are written series by series in label order, so one page holds the chunks of many
/// neighbouring series (a 120-sample XOR chunk is ~150–250 bytes) and one read serves a
/// whole matcher's worth of adjacent series; yet small enough that a 64 MiB cache still
/// holds 1024 independent pages and a point read costs one 64 KiB device read.
pub const PAGE_BYTES: usize = 64 << 10;
/// Default capacity per shard (`storage.page_cache_mb`).
pub const PAGE_CACHE_BYTES_DEFAULT: u64 = 64 << 20;

/// Counters of one cache (one shard).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCacheStats {
    pub hits_total: u64,
    pub misses_total: u64,
    pub evictions_total: u64,
    /// Bytes of page buffers held now (never above the capacity).
    pub bytes_in_use: u64,
    /// Block files that read buffered because their file system refused O_DIRECT.
    pub direct_io_fallbacks_total: u64,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct PageKey {
    block: u64,
    file: u32,
    page: u64,
}

struct Slot {
    key: Option<PageKey>,
    /// CLOCK's second-chance bit: set on a hit, cleared as the hand passes.
    referenced: bool,
    buf: Option<AlignedBuf>,
}

struct Inner {
    slots: Vec<Slot>,
    free: Vec<usize>,
    map: HashMap<PageKey, usize>,
    hand: usize,
    /// Page buffers allocated now (mapped, or free for reuse): at most `pages_max`.
    pages_held: usize,
    stats: PageCacheStats,
}

/// A page cache shared by every block of one shard (`Rc`: it lives on the shard's executor).
pub struct PageCache {
    pages_max: usize,
    inner: RefCell<Inner>,
    next_block_id: Cell<u64>,
    fallback_logged: Cell<bool>,
}

/// A block file (chunk segment or index) opened through a cache: reads of it go through the
/// cache's pages.
pub struct CachedFile {
    file: DirectFile,
    block: u64,
    index: u32,
}

impl CachedFile {
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn size_bytes(&self) -> u64 {
        self.file.size_bytes()
    }

    /// The identity of the block this file belongs to (`PageCache::register_block`).
    pub fn block(&self) -> u64 {
        self.block
    }
}

impl PageCache {
    /// A cache holding at most `bytes_max / PAGE_BYTES` pages (0: every read goes to disk).
    pub fn new(bytes_max: u64) -> Rc<PageCache> {
        Rc::new(PageCache {
            pages_max: usize::try_from(bytes_max / PAGE_BYTES as u64).unwrap_or(usize::MAX),
            inner: RefCell::new(Inner {
                slots: Vec::new(),
                free: Vec::new(),
                map: HashMap::new(),
                hand: 0,
                pages_held: 0,
                stats: PageCacheStats::default(),
            }),
            next_block_id: Cell::new(1),
            fallback_logged: Cell::new(false),
        })
    }

    pub fn pages_max(&self) -> usize {
        self.pages_max
    }

    pub fn stats(&self) -> PageCacheStats {
        self.inner.borrow().stats
    }

    /// A fresh identity for an opened block: pages are keyed by it, never by path, so a new
    /// block in a reused directory name can never see an old block's pages.
    pub fn register_block(&self) -> u64 {
        let id = self.next_block_id.get();
        self.next_block_id.set(id + 1);
        id
    }

    /// Counts (and logs, once per cache) a file that reads buffered.
    pub fn note_fallback(&self, path: &Path) {
        self.inner.borrow_mut().stats.direct_io_fallbacks_total += 1;
        if !self.fallback_logged.replace(true) {
            tracing::warn!(path = %path.display(), "file system refuses O_DIRECT for block files; reading them through the OS page cache (logged once)");
        }
    }

    /// Opens file number `index` of block `block` for cached reads.
    pub fn open_file(&self, path: &Path, block: u64, index: u32) -> Result<CachedFile, Error> {
        let (file, fell_back) = DirectFile::open(path)?;
        if fell_back {
            self.note_fallback(path);
        }
        Ok(CachedFile { file, block, index })
    }

    /// Reads `[offset, offset + len)` of `file` with direct I/O, bypassing the pages: for
    /// sections decoded once when a block is opened (its index's symbols and postings
    /// offset table), whose pages would only crowd out pages that are read again.
    pub fn read_uncached(&self, file: &CachedFile, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
        let (bytes, fell_back) = file.file.read_range(offset, len)?;
        if fell_back {
            self.note_fallback(file.path());
        }
        Ok(bytes)
    }

    /// Fills `out` with the file's bytes at `offset`, page by page through the cache.
    pub fn read(&self, file: &CachedFile, offset: u64, out: &mut [u8]) -> Result<(), Error> {
        let end = offset.checked_add(out.len() as u64);
        if end.is_none_or(|end| end > file.size_bytes()) {
            return Err(Error::corrupt(
                file.path(),
                format!("read of {} bytes at {offset} runs past the end", out.len()),
            ));
        }
        let mut done = 0;
        while done < out.len() {
            let at = offset + done as u64;
            let page = at / PAGE_BYTES as u64;
            let in_page = (at % PAGE_BYTES as u64) as usize;
            let n = (PAGE_BYTES - in_page).min(out.len() - done);
            self.with_page(file, page, |bytes| {
                out[done..done + n].copy_from_slice(&bytes[in_page..in_page + n])
            })?;
            done += n;
        }
        Ok(())
    }

    fn with_page(&self, file: &CachedFile, page: u64, f: impl FnOnce(&[u8])) -> Result<(), Error> {
        let key = PageKey {
            block: file.block,
            file: file.index,
            page,
        };
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if let Some(&slot) = inner.map.get(&key) {
            inner.stats.hits_total += 1;
            let s = &mut inner.slots[slot];
            s.referenced = true;
            if let Some(buf) = &s.buf {
                f(buf.as_bytes());
                return Ok(());
            }
            debug_assert!(false, "a mapped slot holds a page");
        }
        inner.stats.misses_total += 1;
        let offset = page * PAGE_BYTES as u64;
        let want = (file.size_bytes() - offset).min(PAGE_BYTES as u64) as usize;
        if self.pages_max == 0 {
            let mut buf = AlignedBuf::zeroed(PAGE_BYTES);
            drop(guard);
            if file.file.read_aligned(offset, want, &mut buf)? {
                self.note_fallback(file.path());
            }
            f(buf.as_bytes());
            return Ok(());
        }
        let slot = inner.take_slot(self.pages_max);
        let mut buf = match inner.slots[slot].buf.take() {
            Some(buf) => buf,
            None => {
                inner.pages_held += 1;
                AlignedBuf::zeroed(PAGE_BYTES)
            }
        };
        match file.file.read_aligned(offset, want, &mut buf) {
            Ok(fell_back) => {
                f(buf.as_bytes());
                let s = &mut inner.slots[slot];
                s.key = Some(key);
                s.referenced = false;
                s.buf = Some(buf);
                inner.map.insert(key, slot);
                inner.account();
                drop(guard);
                if fell_back {
                    self.note_fallback(file.path());
                }
                Ok(())
            }
            Err(error) => {
                // The buffer stays with the free slot for the next miss.
                inner.slots[slot].buf = Some(buf);
                inner.free.push(slot);
                inner.account();
                Err(error)
            }
        }
    }

    /// Drops every page of `block` (its reader is going away: a deleted, compacted or
    /// rewritten block) and frees their memory.
    pub fn invalidate_block(&self, block: u64) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        for (i, s) in inner.slots.iter_mut().enumerate() {
            if s.key.is_some_and(|k| k.block == block) {
                if let Some(k) = s.key.take() {
                    inner.map.remove(&k);
                }
                if s.buf.take().is_some() {
                    inner.pages_held -= 1;
                }
                s.referenced = false;
                inner.free.push(i);
            }
        }
        inner.account();
    }
}

impl Inner {
    /// An empty slot for a new page: a free one, a new one under the bound, or CLOCK's victim.
    fn take_slot(&mut self, pages_max: usize) -> usize {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        if self.slots.len() < pages_max {
            self.slots.push(Slot {
                key: None,
                referenced: false,
                buf: None,
            });
            return self.slots.len() - 1;
        }
        // Every slot holds a page; at most two sweeps clear every reference bit.
        loop {
            self.hand %= self.slots.len();
            let s = &mut self.slots[self.hand];
            self.hand += 1;
            if s.referenced {
                s.referenced = false;
                continue;
            }
            if let Some(key) = s.key.take() {
                self.map.remove(&key);
                self.stats.evictions_total += 1;
            }
            return self.hand - 1;
        }
    }

    fn account(&mut self) {
        debug_assert!(self.map.len() <= self.pages_held, "every mapped page has a buffer");
        debug_assert!(self.pages_held <= self.slots.len(), "one buffer per slot at most");
        self.stats.bytes_in_use = (self.pages_held * PAGE_BYTES) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file_of(dir: &Path, name: &str, len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8).collect();
        let path = dir.join(name);
        std::fs::write(&path, &bytes).expect("write");
        (path, bytes)
    }

    fn read(cache: &PageCache, file: &CachedFile, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        cache.read(file, offset, &mut out).expect("read");
        out
    }

    #[test]
    fn repeated_reads_hit_and_a_page_serves_neighbouring_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, bytes) = file_of(dir.path(), "a", 3 * PAGE_BYTES + 100);
        let cache = PageCache::new(16 * PAGE_BYTES as u64);
        let block = cache.register_block();
        let f = cache.open_file(&path, block, 0).expect("open");
        assert_eq!(read(&cache, &f, 10, 20), bytes[10..30]);
        assert_eq!(cache.stats().misses_total, 1);
        assert_eq!(read(&cache, &f, 1000, 20), bytes[1000..1020]);
        assert_eq!(cache.stats().hits_total, 1, "same page");
        // Across a page boundary: one hit (page 0) and one miss (page 1).
        let at = PAGE_BYTES as u64 - 5;
        assert_eq!(read(&cache, &f, at, 10), bytes[at as usize..at as usize + 10]);
        let s = cache.stats();
        assert_eq!((s.hits_total, s.misses_total), (2, 2));
        assert_eq!(s.bytes_in_use, 2 * PAGE_BYTES as u64);
        // The partial last page.
        let end = bytes.len() as u64 - 7;
        assert_eq!(read(&cache, &f, end, 7), bytes[end as usize..]);
        let mut past = [0u8; 8];
        assert!(cache.read(&f, end, &mut past).is_err(), "reads past the end are errors");
    }

    #[test]
    fn eviction_keeps_the_bound_and_spares_referenced_pages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, bytes) = file_of(dir.path(), "a", 40 * PAGE_BYTES);
        let cache = PageCache::new(4 * PAGE_BYTES as u64);
        let f = cache.open_file(&path, cache.register_block(), 0).expect("open");
        let page = |p: usize| (p * PAGE_BYTES) as u64;
        for p in 0..4 {
            read(&cache, &f, page(p), 1);
        }
        read(&cache, &f, page(0), 1); // page 0 referenced
        assert_eq!(cache.stats().hits_total, 1);
        for p in 4..40 {
            let got = read(&cache, &f, page(p) + 3, 100);
            assert_eq!(got, bytes[p * PAGE_BYTES + 3..p * PAGE_BYTES + 103]);
            read(&cache, &f, page(0), 1); // keep page 0 hot
            assert!(cache.stats().bytes_in_use <= 4 * PAGE_BYTES as u64, "bound exceeded");
        }
        let s = cache.stats();
        assert_eq!(s.misses_total, 40, "page 0 was never evicted: it was hit every round");
        assert_eq!(s.evictions_total, 36);
        assert_eq!(s.bytes_in_use, 4 * PAGE_BYTES as u64);
    }

    #[test]
    fn invalidation_drops_only_that_blocks_pages_and_frees_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, bytes) = file_of(dir.path(), "a", 4 * PAGE_BYTES);
        let cache = PageCache::new(8 * PAGE_BYTES as u64);
        let (a, b) = (cache.register_block(), cache.register_block());
        let fa = cache.open_file(&path, a, 0).expect("open");
        let fb = cache.open_file(&path, b, 0).expect("open");
        for p in 0..3 {
            read(&cache, &fa, (p * PAGE_BYTES) as u64, 1);
            read(&cache, &fb, (p * PAGE_BYTES) as u64, 1);
        }
        assert_eq!(cache.stats().bytes_in_use, 6 * PAGE_BYTES as u64);
        cache.invalidate_block(a);
        assert_eq!(cache.stats().bytes_in_use, 3 * PAGE_BYTES as u64);
        let before = cache.stats();
        read(&cache, &fb, 0, 1);
        assert_eq!(cache.stats().hits_total, before.hits_total + 1, "b's pages stay");
        // The file changes under the same path: a new block identity never sees old pages.
        let (path, _) = file_of(dir.path(), "a", 4 * PAGE_BYTES);
        std::fs::write(&path, vec![9u8; 4 * PAGE_BYTES]).expect("rewrite");
        let fc = cache.open_file(&path, cache.register_block(), 0).expect("open");
        assert_eq!(read(&cache, &fc, 0, 4), vec![9; 4]);
        assert_eq!(read(&cache, &fb, 0, 4), bytes[..4], "b still reads its cached page");
        assert!(cache.stats().bytes_in_use <= 8 * PAGE_BYTES as u64);
    }

    #[test]
    fn a_zero_capacity_cache_reads_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, bytes) = file_of(dir.path(), "a", PAGE_BYTES + 10);
        let cache = PageCache::new(0);
        let f = cache.open_file(&path, cache.register_block(), 0).expect("open");
        assert_eq!(read(&cache, &f, PAGE_BYTES as u64 - 2, 12), bytes[PAGE_BYTES - 2..]);
        assert_eq!(read(&cache, &f, 0, 12), bytes[..12]);
        let s = cache.stats();
        assert_eq!((s.hits_total, s.misses_total, s.bytes_in_use), (0, 3, 0));
    }

    /// Where O_DIRECT is refused (EINVAL at open, as on tmpfs before Linux 6.6), block files
    /// read buffered with the same bytes, and each such file is counted.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn a_refused_o_direct_falls_back_to_buffered_reads_and_is_counted() {
        use crate::fault::{self, Fault};
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, bytes) = file_of(dir.path(), "a", 2 * PAGE_BYTES + 5);
        let cache = PageCache::new(4 * PAGE_BYTES as u64);
        // Where the test's file system refuses O_DIRECT itself (ramfs), every open falls back.
        let refused_here = u64::from(DirectFile::open(&path).expect("probe").1);
        fault::disarm_all();
        fault::arm(Fault::DirectIoRefused);
        let f = cache.open_file(&path, cache.register_block(), 0).expect("open");
        assert_eq!(read(&cache, &f, PAGE_BYTES as u64 - 1, PAGE_BYTES + 6), bytes[PAGE_BYTES - 1..]);
        let g = cache.open_file(&path, cache.register_block(), 0).expect("open");
        assert_eq!(cache.read_uncached(&g, 3, bytes.len() - 3).expect("range"), bytes[3..]);
        fault::disarm_all();
        assert_eq!(cache.stats().direct_io_fallbacks_total, 2, "two opens fell back");
        let direct = cache.open_file(&path, cache.register_block(), 0).expect("open");
        assert_eq!(read(&cache, &direct, 0, 10), bytes[..10]);
        assert_eq!(cache.stats().direct_io_fallbacks_total, 2 + refused_here, "O_DIRECT works again");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random reads through a small cache (constant eviction) equal the file's bytes,
        /// across page boundaries and up to the partial last page; the bound always holds.
        #[test]
        fn cached_reads_equal_file_reads(
            len in 1usize..(6 * PAGE_BYTES),
            pages_max in 0u64..4,
            reads in proptest::collection::vec((any::<u64>(), 0usize..(2 * PAGE_BYTES + 17)), 1..40),
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let (path, bytes) = file_of(dir.path(), "f", len);
            let cache = PageCache::new(pages_max * PAGE_BYTES as u64);
            let f = cache.open_file(&path, cache.register_block(), 0).expect("open");
            for (at, n) in reads {
                let at = (at % len as u64) as usize;
                let n = n.min(len - at);
                prop_assert_eq!(read(&cache, &f, at as u64, n), &bytes[at..at + n]);
                prop_assert!(cache.stats().bytes_in_use <= pages_max * PAGE_BYTES as u64);
            }
        }
    }
}
