//! The runtime that operator calls run on: threads of their own, at a lower CPU priority than the threads that
//! answer requests.
//!
//! On a busy machine both compete for the same cores. Accepting a payment is a commit and an answer; sending it
//! is an operator call, its result and the state changes after it, several times the CPU. With one priority a
//! burst makes every client wait on the operator calls of the payments before it; with the dispatcher's
//! threads niced (`[dispatch] threads` above 0; `nice`, 10 by default: about a tenth of a core's share against a request thread),
//! the answers come first and the calls take the CPU that is left. What waits is already committed: the queue
//! drains as soon as the burst eases, and a stop leaves it on disk for the next start. The cost, and why it is
//! off by default: on a saturated machine the niced calls stay in flight longer, so a crash finds more of them
//! sent but unacknowledged (README, "Performance").

use tokio::runtime::{Handle, Runtime};

/// A runtime owned by the gateway, shut down (without waiting for its tasks) when dropped.
pub struct BackgroundRuntime {
    /// Taken only when dropped.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl BackgroundRuntime {
    /// Starts `threads` worker threads named `name`, each lowered to `nice` where the system allows it.
    pub fn start(name: &str, threads: usize, nice: i32) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(name)
            .on_thread_start(move || lower_priority(nice))
            .enable_all()
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Where tasks of this runtime are spawned.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for BackgroundRuntime {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async context must not; the tasks are cut where
        // they are, as at a stop of the process (their work is on disk).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's CPU priority to `nice` (Linux: a thread's nice value is its own).
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: setpriority reads no memory of ours; who = 0 is the calling thread on Linux.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if result != 0 {
        tracing::warn!(
            nice,
            error = %std::io::Error::last_os_error(),
            "could not lower the priority of an operator-call thread"
        );
    }
}

/// Elsewhere setpriority applies to the whole process, so the threads keep the process's priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}
