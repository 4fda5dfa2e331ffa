//! Keeping a CPU adapter's cores awake between dispatches.
//!
//! Lavapipe runs each dispatch on its thread pool and waits for it: two
//! thread hand-offs per dispatch. In a virtual machine an idle vCPU halts,
//! and waking a halted vCPU goes through the host, which made a dispatch
//! cost 25-60 us on the 2-vCPU KVM machines we test on (against 2.5 us run
//! inline), about a quarter of a CNN training step. While training steps or
//! predictions run, [`KeepAwake`] keeps one thread per core spinning at the
//! lowest scheduling priority (`SCHED_IDLE`: any other runnable thread
//! preempts it at once), so a woken thread finds its core running. Like the
//! spin-wait of OpenMP runtimes, the spinners stop by themselves
//! [`KeepAwake::LINGER`] after the last [`KeepAwake::touch`], and never run
//! at normal priority: where `SCHED_IDLE` cannot be set (other systems)
//! nothing spins.
//! `MEDGPU_KEEP_AWAKE=0` turns it off, `=1` on for any adapter.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idle-priority spinners, one per core, started by [`KeepAwake::touch`].
pub struct KeepAwake {
    shared: Arc<Shared>,
    threads: usize,
}

struct Shared {
    /// Time origin of `deadline_us`.
    origin: Instant,
    /// Spinners stop once this many microseconds past `origin` have passed.
    deadline_us: AtomicU64,
    /// Spinners running (or starting).
    running: AtomicUsize,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }
}

impl KeepAwake {
    /// How long the spinners run after the last touch (Intel's OpenMP
    /// runtime spins 200 ms by default, `KMP_BLOCKTIME`).
    pub const LINGER: Duration = Duration::from_millis(200);

    /// Spinners for `threads` cores (none start until the first touch).
    pub fn new(threads: usize) -> KeepAwake {
        let shared =
            Shared { origin: Instant::now(), deadline_us: AtomicU64::new(0), running: AtomicUsize::new(0) };
        KeepAwake { shared: Arc::new(shared), threads }
    }

    /// Keeps the cores awake for the next [`Self::LINGER`], starting the
    /// spinners when none run.
    pub fn touch(&self) {
        let s = &self.shared;
        s.deadline_us.store(s.now_us() + Self::LINGER.as_micros() as u64, Ordering::Release);
        if self.threads == 0
            || s.running.compare_exchange(0, self.threads, Ordering::AcqRel, Ordering::Acquire).is_err()
        {
            return;
        }
        for i in 0..self.threads {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new().name(format!("medgpu-awake-{i}")).spawn(move || {
                if lowest_priority() {
                    while shared.now_us() < shared.deadline_us.load(Ordering::Acquire) {
                        for _ in 0..64 {
                            std::hint::spin_loop();
                        }
                    }
                }
                shared.running.fetch_sub(1, Ordering::AcqRel);
            });
            if spawned.is_err() {
                s.running.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Spinners running now (for tests).
    pub fn running(&self) -> usize {
        self.shared.running.load(Ordering::Acquire)
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        // the spinners see the past deadline within a few microseconds and exit
        self.shared.deadline_us.store(0, Ordering::Release);
    }
}

/// Moves the calling thread to `SCHED_IDLE`; false where that fails or the
/// system has no such class (the caller must then not spin).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn lowest_priority() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads `param` and changes only the calling thread (pid 0).
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn lowest_priority() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinners_start_on_touch_and_stop_after_linger() {
        let k = KeepAwake::new(2);
        assert_eq!(k.running(), 0, "nothing spins before the first touch");
        k.touch();
        assert_eq!(k.running(), 2);
        let t = Instant::now();
        while k.running() > 0 {
            assert!(t.elapsed() < KeepAwake::LINGER * 20, "spinners still running long after the linger");
            std::thread::sleep(Duration::from_millis(10));
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert!(t.elapsed() >= KeepAwake::LINGER / 2, "spinners stopped early");
    }

    #[test]
    fn dropping_stops_the_spinners() {
        let k = KeepAwake::new(1);
        k.touch();
        let shared = k.shared.clone();
        drop(k);
        let t = Instant::now();
        while shared.running.load(Ordering::Acquire) > 0 {
            assert!(t.elapsed() < Duration::from_secs(5), "a spinner outlived its KeepAwake");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
