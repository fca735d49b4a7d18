//! The scheduler's plumbing: watch Tasks and SwarmNodes, debounce, decide, write concurrently.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use flotilla_api::{SwarmNode, Task};
use flotilla_component::leader::ElectionError;
use futures::{Stream, StreamExt};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};
use tracing::{debug, info, warn};

use crate::debounce::{Change, Debouncer};
use crate::decide::{schedule, Decision};
use crate::model::TaskKey;
use crate::state::State;
use crate::watched::WatchedTask;
use crate::writer::{perform, Write};

/// The scheduler's own options (its binary adds `--kubeconfig` and `--leader-elect*`).
#[derive(Clone, Debug, clap::Args)]
#[group(id = "scheduler")]
pub struct Options {
    /// Quiet period before a pass (Swarm: 50 ms)…
    #[arg(skip = Duration::from_millis(50))]
    pub debounce: Duration,
    /// …bounded to this long after the first change (Swarm: 1 s).
    #[arg(skip = Duration::from_secs(1))]
    pub max_delay: Duration,
    /// Bindings and status writes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Initial state through streaming lists (sendInitialEvents; needs kube-apiserver ≥ 1.32 or
    /// its WatchList feature gate): the initial state comes from the api-server's watch cache as
    /// watch events. `--watch-list=false` uses paged lists.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_list: bool,
}

impl Default for Options {
    fn default() -> Self {
        flotilla_component::args::defaults()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("the {0} watch ended")]
    WatchEnded(&'static str),
    #[error(transparent)]
    Election(#[from] ElectionError),
}

/// Runs the scheduler until `shutdown` completes. Under leader election it runs inside
/// [`flotilla_component::leader::run_elected`], as its binary does.
pub async fn run(
    client: kube::Client,
    options: Options,
    shutdown: impl Future,
) -> Result<(), SchedulerError> {
    Scheduler::new(client, options).run(shutdown).await
}

type WriteDone = (TaskKey, Result<Option<Task>, kube::Error>);

struct Scheduler {
    client: kube::Client,
    options: Options,
    state: State,
    debouncer: Debouncer,
    queue: VecDeque<Write>,
    /// Dropped with the scheduler: losing leadership aborts every pending write.
    writes: JoinSet<WriteDone>,
    synced: (bool, bool),
    buffers: (Vec<Task>, Vec<SwarmNode>),
}

fn watch<K>(
    client: &kube::Client,
    watch_list: bool,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    // Streaming lists start faster than paged lists: the initial objects come from the watch
    // cache, most as already encoded watch lines, where paged lists read and decode every task
    // from etcd. Unpaged resourceVersion=0 lists (all kube-rs sends from the cache) were no
    // faster and held more memory (docs/benchmark.md#scheduler).
    let config = if watch_list {
        watcher::Config::default().streaming_lists()
    } else {
        watcher::Config::default().page_size(1000)
    };
    watcher::watcher(api, config).default_backoff()
}

impl Scheduler {
    fn new(client: kube::Client, options: Options) -> Scheduler {
        Scheduler {
            client,
            debouncer: Debouncer::new(options.debounce, options.max_delay),
            options,
            state: State::default(),
            queue: VecDeque::new(),
            writes: JoinSet::new(),
            synced: (false, false),
            buffers: (Vec::new(), Vec::new()),
        }
    }

    async fn run(mut self, shutdown: impl Future) -> Result<(), SchedulerError> {
        let watch_list = self.options.watch_list;
        let mut tasks = std::pin::pin!(watch::<WatchedTask>(&self.client, watch_list));
        let mut nodes = std::pin::pin!(watch::<SwarmNode>(&self.client, watch_list));
        tokio::pin!(shutdown);
        info!("scheduler started");
        loop {
            let was_synced = self.synced == (true, true);
            let writing = !self.queue.is_empty() || !self.writes.is_empty();
            let due = self.debouncer.deadline(writing).filter(|_| was_synced);
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                event = tasks.next() => match event {
                    Some(event) => self.on_task(event),
                    None => return Err(SchedulerError::WatchEnded("Task")),
                },
                event = nodes.next() => match event {
                    Some(event) => self.on_node(event),
                    None => return Err(SchedulerError::WatchEnded("SwarmNode")),
                },
                Some(done) = self.writes.join_next(), if !self.writes.is_empty() => {
                    if let Ok(done) = done {
                        self.on_written(done);
                    }
                    self.start_writes();
                }
                _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => self.pass(),
            }
            // As SwarmKit's scheduler ticks once its initial task list is set up: the complete
            // initial state needs no quiet period (it would add 50 ms to every start-up).
            if !was_synced && self.synced == (true, true) {
                let (tasks, nodes) = self.state.counts();
                info!(tasks, nodes, "initial state synced");
                self.pass();
            }
        }
    }

    fn on_task(&mut self, event: Result<Event<WatchedTask>, watcher::Error>) {
        // Only changes that can change a decision restart the quiet period (`state::change`):
        // agents' status reports of running tasks would otherwise hold every pass to the cap.
        let change = match event {
            Ok(Event::Apply(t)) => self.state.apply_task(&t.0),
            Ok(Event::Delete(t)) => self.state.delete_task(&t.0),
            Ok(Event::Init) => {
                self.buffers.0.clear();
                Change::Relevant
            }
            Ok(Event::InitApply(t)) => {
                self.buffers.0.push(t.0);
                Change::Irrelevant
            }
            Ok(Event::InitDone) => {
                self.state
                    .replace_tasks(std::mem::take(&mut self.buffers.0));
                self.synced.0 = true;
                Change::Waiting
            }
            Err(e) => return warn!(error = %e, "task watch failed; retrying"),
        };
        self.debouncer.touch(Instant::now(), change);
    }

    fn on_node(&mut self, event: Result<Event<SwarmNode>, watcher::Error>) {
        match event {
            Ok(Event::Apply(n)) => self.state.apply_node(n),
            Ok(Event::Delete(n)) => self.state.delete_node(&n),
            Ok(Event::Init) => self.buffers.1.clear(),
            Ok(Event::InitApply(n)) => self.buffers.1.push(n),
            Ok(Event::InitDone) => {
                self.state
                    .replace_nodes(std::mem::take(&mut self.buffers.1));
                self.synced.1 = true;
            }
            Err(e) => return warn!(error = %e, "node watch failed; retrying"),
        }
        self.debouncer.touch(Instant::now(), Change::Relevant);
    }

    /// One scheduling pass over the current snapshot.
    fn pass(&mut self) {
        self.debouncer.passed(Instant::now());
        let (mut nodes, pending) = self.state.snapshot(k8s_openapi::jiff::Timestamp::now());
        if pending.is_empty() {
            return;
        }
        let (started, considered) = (Instant::now(), pending.len());
        let decisions = schedule(&mut nodes, &pending);
        let decided_in = started.elapsed();
        let (mut bound, mut unschedulable) = (0, 0);
        for decision in decisions {
            match decision {
                Decision::Bind { task, node } => {
                    bound += 1;
                    self.state.decided(&task, &node);
                    self.queue.push_back(Write::Bind { task, node });
                }
                Decision::Confirm { task, node } => {
                    let Some(info) = self.state.task(&task).cloned() else {
                        continue;
                    };
                    self.state.decided(&task, &node);
                    self.queue.push_back(Write::Confirm { task: info });
                }
                Decision::Unschedulable { task, explanation } => {
                    unschedulable += 1;
                    if !self.state.should_explain(&task, &explanation) {
                        continue;
                    }
                    let Some(info) = self.state.task(&task).cloned() else {
                        continue;
                    };
                    self.queue.push_back(Write::Explain {
                        task: info,
                        explanation,
                    });
                }
            }
        }
        debug!(
            considered,
            bound,
            unschedulable,
            ?decided_in,
            "scheduling pass"
        );
        self.start_writes();
    }

    fn start_writes(&mut self) {
        while self.writes.len() < self.options.concurrency.max(1) {
            let Some(write) = self.queue.pop_front() else {
                return;
            };
            let client = self.client.clone();
            self.writes.spawn(async move {
                let key = write.key().clone();
                (key, perform(client, write).await)
            });
        }
    }

    fn on_written(&mut self, (key, result): WriteDone) {
        match result {
            Ok(Some(task)) => {
                self.state.apply_answer(&task);
            }
            // A binding: the decision stays recorded until the watch brings the bound Task.
            Ok(None) => {}
            Err(e) => {
                // A lost race (409) or a vanished task: decide again from what the watch shows.
                debug!(task = %key.name, error = %e, "scheduler write failed");
                self.state.write_failed(&key);
                self.debouncer.touch(Instant::now(), Change::Waiting);
            }
        }
    }
}
