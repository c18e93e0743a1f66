//! Fault injection for tests (cargo feature `fault-injection`; without it this module and
//! every injection point are compiled out). A test arms faults on its own thread; the WAL,
//! the block writer and block reads consult them there, so tests running in parallel (each
//! shard on its own executor thread) never see each other's faults.

use std::cell::RefCell;
use std::mem::{discriminant, Discriminant};

/// A failure the storage code can be made to meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A WAL segment write stores only the first `after_bytes` bytes of its new records
    /// (the rest of its pages read back as zeros: a torn record) and reports a short write.
    WalShortWrite { after_bytes: usize },
    /// A WAL segment write fails with ENOSPC before anything is written.
    WalNoSpace,
    /// A WAL segment write reaches the device but reports EIO (did it land? unknown).
    WalIoError,
    /// A WAL fdatasync fails with EIO (after its write went out).
    WalFsync,
    /// A block file write fails with ENOSPC after writing half of the file.
    BlockWrite,
    /// A block file fsync fails with EIO (after the whole file was written).
    BlockFsync,
    /// Opening a block file (to read or write) or a WAL checkpoint (to write) with O_DIRECT
    /// fails with EINVAL, as on file systems without it.
    DirectIoRefused,
    /// An O_DIRECT write of a block file or WAL checkpoint fails with EINVAL before writing
    /// anything, as on file systems that accept the flag at open but not the I/O (the file
    /// then writes buffered, so only its first write meets this).
    DirectIoWriteRefused,
    /// Finishing a WAL checkpoint (at a head cut) fails with ENOSPC.
    CheckpointWrite,
    /// Removing a block (its rename to `<ULID>.deleted`) fails with EIO.
    BlockDelete,
    /// Reading a chunk from a block's segment file fails with EIO (a query or a compaction
    /// reading that block).
    ChunkRead,
}

struct Armed {
    fault: Fault,
    /// Fires this many more times; `None`: until disarmed.
    remaining: Option<u32>,
    /// Occurrences let pass (not counted as fired) before it fires.
    skip: u32,
}

#[derive(Default)]
struct State {
    armed: Vec<Armed>,
    fired: Vec<(Discriminant<Fault>, u64)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Arms `fault` on this thread until `disarm`/`disarm_all`.
pub fn arm(fault: Fault) {
    STATE.with(|s| s.borrow_mut().armed.push(Armed { fault, remaining: None, skip: 0 }));
}

/// Arms `fault` on this thread for its next `times` occurrences.
pub fn arm_times(fault: Fault, times: u32) {
    STATE.with(|s| {
        s.borrow_mut().armed.push(Armed {
            fault,
            remaining: Some(times),
            skip: 0,
        })
    });
}

/// Arms `fault` on this thread to fire once, at its occurrence after the next `skip` ones
/// (e.g. the second block of a cut, past the first block's file writes).
pub fn arm_after(fault: Fault, skip: u32) {
    STATE.with(|s| s.borrow_mut().armed.push(Armed { fault, remaining: Some(1), skip }));
}

/// Disarms every fault of `fault`'s kind (its fields are ignored) on this thread.
pub fn disarm(fault: Fault) {
    STATE.with(|s| s.borrow_mut().armed.retain(|a| discriminant(&a.fault) != discriminant(&fault)));
}

/// Disarms everything on this thread and forgets the counts.
pub fn disarm_all() {
    STATE.with(|s| *s.borrow_mut() = State::default());
}

/// How many times faults of `fault`'s kind fired on this thread (so a test can prove its
/// fault was really met, not silently skipped).
pub fn fired(fault: Fault) -> u64 {
    STATE.with(|s| {
        s.borrow()
            .fired
            .iter()
            .find(|(d, _)| *d == discriminant(&fault))
            .map_or(0, |(_, n)| *n)
    })
}

/// The first armed fault accepted by `wanted`, consumed once and counted; for injection points.
pub(crate) fn take(wanted: impl Fn(&Fault) -> bool) -> Option<Fault> {
    STATE.with(|s| {
        let mut state = s.borrow_mut();
        let at = state.armed.iter().position(|a| wanted(&a.fault))?;
        if state.armed[at].skip > 0 {
            state.armed[at].skip -= 1;
            return None;
        }
        let fault = state.armed[at].fault;
        match &mut state.armed[at].remaining {
            Some(1) => {
                state.armed.remove(at);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        let kind = discriminant(&fault);
        match state.fired.iter_mut().find(|(d, _)| *d == kind) {
            Some((_, n)) => *n += 1,
            None => state.fired.push((kind, 1)),
        }
        Some(fault)
    })
}

/// This thread's faults (armed and fired so far), moved out of it: work this thread hands
/// to another thread (a block write on glommio's blocking pool) takes them along with
/// `carry` and `land`, and brings them back the same way when it is done.
pub(crate) struct Carried(State);

/// Moves this thread's faults out (this thread has none until they `land` again).
pub(crate) fn carry() -> Carried {
    STATE.with(|s| Carried(std::mem::take(&mut *s.borrow_mut())))
}

/// Makes `carried` this thread's faults (replacing any armed here).
pub(crate) fn land(carried: Carried) {
    STATE.with(|s| *s.borrow_mut() = carried.0);
}

/// An `std::io::Error` with errno `code`, as the failing system call would return.
pub(crate) fn os_error(code: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fire_as_armed_and_only_on_their_thread() {
        disarm_all();
        arm_times(Fault::WalFsync, 2);
        arm(Fault::BlockWrite);
        let other = std::thread::spawn(|| take(|f| *f == Fault::WalFsync)).join().expect("thread");
        assert_eq!(other, None, "faults are per thread");
        assert_eq!(take(|f| *f == Fault::WalFsync), Some(Fault::WalFsync));
        assert_eq!(take(|f| *f == Fault::WalFsync), Some(Fault::WalFsync));
        assert_eq!(take(|f| *f == Fault::WalFsync), None, "armed for two");
        for _ in 0..3 {
            assert_eq!(take(|f| *f == Fault::BlockWrite), Some(Fault::BlockWrite));
        }
        disarm(Fault::BlockWrite);
        assert_eq!(take(|f| *f == Fault::BlockWrite), None);
        assert_eq!((fired(Fault::WalFsync), fired(Fault::BlockWrite)), (2, 3));
        disarm_all();
        assert_eq!(fired(Fault::WalFsync), 0);
    }

    #[test]
    fn carried_faults_fire_on_the_thread_they_land_on_and_come_back() {
        disarm_all();
        arm_times(Fault::BlockWrite, 2);
        let carried = carry();
        assert_eq!(take(|f| *f == Fault::BlockWrite), None, "carried away");
        let back = std::thread::spawn(move || {
            land(carried);
            assert_eq!(take(|f| *f == Fault::BlockWrite), Some(Fault::BlockWrite));
            carry()
        })
        .join()
        .expect("thread");
        land(back);
        assert_eq!(fired(Fault::BlockWrite), 1, "what fired there counts here");
        assert_eq!(take(|f| *f == Fault::BlockWrite), Some(Fault::BlockWrite), "one left");
        assert_eq!(take(|f| *f == Fault::BlockWrite), None);
        disarm_all();
    }
}
