//! A node agent running in the test's process, as the agent tests of every runtime (Docker, CRI,
//! simulated) start and stop it.

use std::sync::Arc;
use std::time::Duration;

use flotilla_node_agent::runtime::Runtime;
use flotilla_node_agent::{run, AgentConfig, AgentError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a graceful stop may take.
const STOP: Duration = Duration::from_secs(30);

/// One agent (the library's [`run`]) on its own tokio task.
pub struct RunningAgent {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), AgentError>>,
}

impl RunningAgent {
    /// Starts `config`'s node on `runtime`.
    pub fn spawn(client: kube::Client, config: AgentConfig, runtime: Arc<dyn Runtime>) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(run(client, config, runtime, async {
            let _ = stopped.await;
        }));
        RunningAgent { stop, handle }
    }

    /// The graceful stop (SIGTERM): the node reports itself down, its containers keep running.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(STOP, self.handle).await???;
        Ok(())
    }
}
