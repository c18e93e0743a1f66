//! The storage of a `Labels`: one heap block holding a reference count, the set's cached
//! stable hash, its pair count and its packed text, behind a one-word pointer. The only
//! unsafe code of the label sets is here: allocation, the reference count and the read of
//! the text, each with its reasoning.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// The start of the block; the text follows it.
#[repr(C)]
struct Header {
    references: AtomicUsize,
    /// The set's stable hash once computed, 0 before (a set whose hash is 0 computes it
    /// again on every call, which gives the same value).
    stable_hash: AtomicU64,
    count: u32,
    text_len: u32,
}

/// Shared, immutable: a packed label text, its pair count and its cached hash, in one block.
/// What `Arc<struct { Box<[u8]>, .. }>` gives in two blocks (a head keeps one set per series,
/// and the second block and its size-class rounding were about 24 bytes of each), and what
/// `Arc<[u8]>` gives only with a two-word pointer.
pub(super) struct SharedText(NonNull<Header>);

// SAFETY: the block is immutable after construction except for the atomics, and freed only by
// the last owner (an atomic reference count, as `Arc` does), so owners on any threads may
// read it and drop their share.
unsafe impl Send for SharedText {}
// SAFETY: as above: `&SharedText` allows reads and atomic updates only.
unsafe impl Sync for SharedText {}

/// The block's layout for a text of `text_len` bytes.
fn layout(text_len: usize) -> Layout {
    match Layout::new::<Header>().extend(Layout::array::<u8>(text_len).unwrap_or_else(|_| text_too_long())) {
        Ok((layout, _)) => layout,
        Err(_) => text_too_long(),
    }
}

/// Label texts are bounded far below 4 GiB by the label limits of every write path.
fn text_too_long() -> ! {
    panic!("a label set's text must be shorter than 4 GiB")
}

impl SharedText {
    pub(super) fn new(text: &[u8], count: u32) -> SharedText {
        let text_len = u32::try_from(text.len()).unwrap_or_else(|_| text_too_long());
        let layout = layout(text.len());
        // SAFETY: the layout has a non-zero size (the header).
        let block = unsafe { alloc(layout) }.cast::<Header>();
        let Some(block) = NonNull::new(block) else { handle_alloc_error(layout) };
        // SAFETY: the block is fresh, aligned for `Header` and large enough for the header and
        // `text.len()` bytes after it (`layout`); the text cannot overlap a fresh block.
        unsafe {
            block.as_ptr().write(Header { references: AtomicUsize::new(1), stable_hash: AtomicU64::new(0), count, text_len });
            std::ptr::copy_nonoverlapping(text.as_ptr(), block.as_ptr().add(1).cast::<u8>(), text.len());
        }
        SharedText(block)
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the block lives while `self` holds a reference, and was initialized in `new`.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    pub(super) fn text(&self) -> &[u8] {
        let len = self.header().text_len as usize;
        // SAFETY: `new` wrote `text_len` bytes right after the header (`#[repr(C)]`, whose
        // size is a multiple of its alignment, so `add(1)` is where `layout` put them), and
        // they are never written again; the block lives while `self` does.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(1).cast::<u8>(), len) }
    }

    #[inline]
    pub(super) fn count(&self) -> u32 {
        self.header().count
    }

    /// The cached hash, if computed.
    #[inline]
    pub(super) fn cached_hash(&self) -> Option<u64> {
        let hash = self.header().stable_hash.load(Ordering::Relaxed);
        (hash != 0).then_some(hash)
    }

    /// Caches the set's hash (every caller stores the same value for the same text).
    #[inline]
    pub(super) fn cache_hash(&self, hash: u64) {
        self.header().stable_hash.store(hash, Ordering::Relaxed);
    }

    /// The block's address, for prefetching and identity comparisons.
    #[inline]
    pub(super) fn as_ptr(&self) -> *const u8 {
        self.0.as_ptr().cast::<u8>()
    }
}

impl SharedText {
    /// Frees the block; called by the last owner only.
    #[cold]
    fn free(&mut self) {
        let layout = layout(self.header().text_len as usize);
        // SAFETY: this was the last reference; the block was allocated in `new` with this
        // same layout (from the same length).
        unsafe { dealloc(self.0.as_ptr().cast::<u8>(), layout) }
    }
}

impl Clone for SharedText {
    #[inline]
    fn clone(&self) -> Self {
        // Relaxed, as `Arc`: a new reference is made from an existing one, which keeps the
        // block alive; no other memory is published by it.
        let before = self.header().references.fetch_add(1, Ordering::Relaxed);
        if before > isize::MAX as usize {
            // Only reachable by leaking references (as `Arc` guards against): stop rather
            // than let the count wrap and free a block in use.
            std::process::abort();
        }
        SharedText(self.0)
    }
}

impl Drop for SharedText {
    #[inline]
    fn drop(&mut self) {
        // Release, then Acquire for the last owner, as `Arc`: every other owner's use of the
        // block happens before it is freed.
        if self.header().references.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        self.free();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_reads_back_and_frees_once_from_any_thread() {
        let text: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let shared = SharedText::new(&text, 7);
        assert_eq!((shared.text(), shared.count(), shared.cached_hash()), (&text[..], 7, None));
        shared.cache_hash(42);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let copy = shared.clone();
                std::thread::spawn(move || {
                    let copies: Vec<SharedText> = (0..1000).map(|_| copy.clone()).collect();
                    copies.iter().all(|c| c.text().len() == 1000 && c.cached_hash() == Some(42) && c.as_ptr() == copy.as_ptr())
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap_or(false));
        }
        assert_eq!(shared.header().references.load(Ordering::Relaxed), 1, "every copy was dropped");
        let empty = SharedText::new(&[], 0);
        assert_eq!((empty.text(), empty.count()), (&[][..], 0));
    }
}
