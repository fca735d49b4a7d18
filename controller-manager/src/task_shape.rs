//! What the task cache keeps of a watched Task: what some decision reads, with one copy of each
//! template. At 10,000 replicas and their history the cache holds ~22,000 tasks, most of this
//! process's memory (docs/benchmark.md), so what no decision reads is not kept.

use flotilla_api::Task;

use crate::templates::Templates;

/// Shapes each watched Task before the cache keeps it.
#[derive(Default)]
pub struct TaskShaper {
    templates: Templates,
}

impl TaskShaper {
    pub fn shape(&mut self, task: &mut Task) {
        // Tasks are written by merge patches, never replaced whole, so nothing dropped here
        // can be lost by a write.
        task.metadata.labels = None;
        if let Some(status) = task.status.as_mut() {
            // Decisions read a task's state, timestamp, message and err; the container, its
            // ports and addresses are the agent's report for users and the load balancer.
            status.container_status = None;
            status.port_status = Vec::new();
            status.networks = Vec::new();
            status.applied_by = None;
            status.applied_at = None;
        }
        self.templates.share(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::task::{ContainerStatus, TaskSpec, TaskStatus};
    use flotilla_api::TaskState;

    #[test]
    fn a_kept_task_has_what_decisions_read_and_not_the_agents_report() {
        let mut task = Task::new("web.1.x", TaskSpec::default());
        task.metadata.labels = Some([("flotilla.dev/service".into(), "web".into())].into());
        task.status = Some(TaskStatus {
            state: Some(TaskState::Failed),
            message: Some("started".into()),
            err: Some("exit 1".into()),
            container_status: Some(Box::new(ContainerStatus {
                container_id: Some("c1".into()),
                ..ContainerStatus::default()
            })),
            applied_by: Some("node-1".into()),
            ..TaskStatus::default()
        });
        TaskShaper::default().shape(&mut task);
        let status = task.status.as_ref().unwrap();
        assert_eq!(status.state, Some(TaskState::Failed));
        assert_eq!(status.err.as_deref(), Some("exit 1"));
        assert_eq!(status.message.as_deref(), Some("started"));
        assert!(status.container_status.is_none() && status.applied_by.is_none());
        assert!(task.metadata.labels.is_none());
    }
}
