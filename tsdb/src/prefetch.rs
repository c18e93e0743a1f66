//! Cache prefetch hints for the write path. Looking up and appending to the series of a
//! remote_write batch misses the CPU cache at every step (hash table slot, series record,
//! label list, open chunk), one series after another; telling the CPU a few series ahead
//! what will be read lets those misses overlap. A hint never changes a result.

/// Asks the CPU to bring the cache line holding `*value` into its caches. Never faults,
/// whatever the address; a no-op on targets without a prefetch instruction here.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it does not fault on any address and writes nothing.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(value as *const u8 as *const i8)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
