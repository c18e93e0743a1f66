//! CPU scheduling of the server's threads: executors (network I/O, ingestion, shard reads,
//! label listings) are latency-sensitive, PromQL evaluation threads do long batch work, so
//! where both want every CPU the kernel is asked to run an executor as soon as it wakes. Best
//! effort: failing to change a priority costs only that gain, so it is logged at debug level;
//! a process started with another nice value or policy keeps it.

/// How much lower than the server's the CPU priority (nice) of evaluation threads is.
const EVALUATION_THREAD_NICE_INCREMENT: libc::c_int = 10;

/// The time slice executors ask for: the smallest the kernel accepts (100 µs). Measured on
/// the dashboard mix (100k series, 4 clients, 2 CPUs; bench/RESULTS.md, session 16).
const EXECUTOR_SLICE_NS: u64 = 100_000;

/// Lowers the calling thread's CPU priority by `EVALUATION_THREAD_NICE_INCREMENT` (once per
/// thread; glommio's blocking-pool threads are reused), so evaluation threads take the CPU
/// time the executors leave, but still a share (about a tenth of a core each under
/// saturation) and never starve outright (measured when added: with 4 dashboard clients on 2
/// CPUs, label-values p50 2.5 -> 1.6-2.0 ms, p99 12 -> 7 ms). The pool also runs glommio's
/// own rare file-system calls (rename, remove) at that priority.
pub fn lower_evaluation_thread_priority() {
    thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if LOWERED.with(|lowered| lowered.replace(true)) {
        return;
    }
    // SAFETY: gettid, getpriority and setpriority take plain integers and touch no memory
    // of ours; errno is thread-local, cleared first because -1 is a valid priority.
    let changed = unsafe {
        let tid = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        if current == -1 && *libc::__errno_location() != 0 {
            -1
        } else {
            libc::setpriority(libc::PRIO_PROCESS, tid, (current + EVALUATION_THREAD_NICE_INCREMENT).min(19))
        }
    };
    if changed != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not lower an evaluation thread's CPU priority");
    }
}

/// The affinity mask this process started with, recorded by the first [`process_cpus`]
/// (before any executor pins its thread).
static PROCESS_CPUS: std::sync::OnceLock<libc::cpu_set_t> = std::sync::OnceLock::new();

/// The calling thread's affinity mask.
fn current_cpu_set() -> std::io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for pid 0 (this thread).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(set)
    }
}

/// CPUs this process may run on (its affinity mask), in order. The first call, made by the
/// runtime before it starts the executors, records the mask for
/// [`leave_executor_cpu`].
pub fn process_cpus() -> Vec<usize> {
    let set = match PROCESS_CPUS.get() {
        Some(set) => *set,
        None => match current_cpu_set() {
            Ok(set) => *PROCESS_CPUS.get_or_init(|| set),
            Err(_) => return (0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).collect(),
        },
    };
    cpus_in(&set)
}

/// The CPUs of an affinity mask, in order.
fn cpus_in(set: &libc::cpu_set_t) -> Vec<usize> {
    // SAFETY: CPU_ISSET reads the plain-data set for indexes below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, set) }).collect()
}

/// Gives the calling thread, started from a pinned executor and so pinned to its CPU, the
/// process's whole affinity mask back, so the kernel may run it on any CPU as it runs the
/// executors' blocking pools (glommio starts those before pinning). Best effort, like the
/// priorities here; nothing happens where no mask was recorded.
pub fn leave_executor_cpu() {
    let Some(set) = PROCESS_CPUS.get() else {
        return;
    };
    // SAFETY: `set` is a live cpu_set_t of the size passed; pid 0 is this thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not unpin a thread started from an executor");
    }
}

/// `struct sched_attr` of `sched_setattr(2)`, its first version (48 bytes); the libc crate
/// does not define it.
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    /// For SCHED_OTHER and SCHED_BATCH since Linux 6.12: the requested slice, in ns.
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// The calling thread's scheduling attributes (`sched_getattr(2)`).
fn current_sched_attr() -> std::io::Result<SchedAttr> {
    let mut attr = SchedAttr { size: std::mem::size_of::<SchedAttr>() as u32, ..SchedAttr::default() };
    // SAFETY: `attr` is a live, writable sched_attr of the size passed; pid 0 is this thread.
    let read = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr as *mut SchedAttr, attr.size, 0u32) };
    if read != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(attr)
}

/// Asks for a `EXECUTOR_SLICE_NS` time slice for the calling thread (an executor), keeping
/// its policy and nice value. Does nothing unless the thread is SCHED_OTHER or SCHED_BATCH.
/// True when the kernel took the request (kernels before 6.12 take it and ignore the slice).
/// Under Linux' EEVDF scheduler (6.12 and later) a waking task with a shorter slice preempts
/// the running one instead of waiting for the end of its slice (1.4 ms by default on the
/// 2-CPU test machine), which is what a label lookup otherwise waited for behind an
/// evaluation thread.
pub fn request_short_slice_for_executor() -> bool {
    let mut attr = match current_sched_attr() {
        Ok(attr) => attr,
        Err(error) => {
            tracing::debug!(%error, "could not read an executor's scheduling attributes");
            return false;
        }
    };
    if attr.policy != libc::SCHED_OTHER as u32 && attr.policy != libc::SCHED_BATCH as u32 {
        return false;
    }
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    attr.flags = 0;
    attr.runtime = EXECUTOR_SLICE_NS;
    // SAFETY: `attr` is a valid sched_attr of the size it states; pid 0 is this thread.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) };
    if set != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not ask for a short time slice for an executor");
    }
    set == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_attr() -> SchedAttr {
        current_sched_attr().expect("sched_getattr")
    }

    #[test]
    fn the_short_slice_keeps_policy_and_nice() {
        // On a thread of its own: the test harness' threads are reused.
        std::thread::spawn(|| {
            let before = current_attr();
            let taken = request_short_slice_for_executor();
            let after = current_attr();
            assert_eq!((after.policy, after.nice), (before.policy, before.nice));
            // Kernels before 6.12 report no slice for fair tasks (0) and ignore the request;
            // later ones report the default slice, then the one asked for. A sandbox may also
            // refuse the call: then nothing changed.
            if !taken {
                assert_eq!(after.runtime, before.runtime);
            } else if before.runtime != 0 {
                assert_eq!(after.runtime, EXECUTOR_SLICE_NS);
            }
        })
        .join()
        .expect("the test thread panicked");
    }

    #[test]
    fn evaluation_threads_run_ten_nice_levels_lower() {
        std::thread::spawn(|| {
            let before = current_attr().nice;
            lower_evaluation_thread_priority();
            lower_evaluation_thread_priority(); // once per thread
            assert_eq!(current_attr().nice, (before + EVALUATION_THREAD_NICE_INCREMENT).min(19));
        })
        .join()
        .expect("the test thread panicked");
    }

    #[test]
    fn a_thread_started_from_a_pinned_one_gets_the_process_cpus_back() {
        let all = process_cpus();
        assert!(!all.is_empty());
        assert_eq!(cpus_in(&current_cpu_set().expect("sched_getaffinity")), all);
        std::thread::spawn(move || {
            // Pinned as an executor is, to the last CPU of the process.
            let pinned = *all.last().expect("a CPU");
            // SAFETY: cpu_set_t is plain data; CPU_SET writes below CPU_SETSIZE; pid 0 is this
            // thread.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(pinned, &mut set);
                assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0);
            }
            let inherited = std::thread::spawn(|| {
                let before = cpus_in(&current_cpu_set().expect("sched_getaffinity"));
                leave_executor_cpu();
                (before, cpus_in(&current_cpu_set().expect("sched_getaffinity")))
            });
            let (before, after) = inherited.join().expect("the inner thread panicked");
            assert_eq!(before, vec![pinned], "a new thread inherits its creator's pin");
            assert_eq!(after, all);
        })
        .join()
        .expect("the test thread panicked");
    }
}
