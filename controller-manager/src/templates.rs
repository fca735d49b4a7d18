//! One copy of each task template in the task cache. Every task of a service's spec version
//! carries the same template, and a typed template is ~1 KB before its strings: at 10,000
//! replicas, with the previous version's tasks kept as history, the copies were a large part of
//! this process's memory (docs/benchmark.md). The reflector passes each watched task through
//! [`Templates::share`], which swaps its template for an equal one already held.

use std::collections::HashMap;
use std::sync::Arc;

use flotilla_api::template::TaskTemplate;
use flotilla_api::Task;

/// How many templates are added between sweeps of those no cached task uses any more.
const SWEEP_EVERY: usize = 256;

/// Templates by (namespace, service, spec version); equality is checked on every hit, so a
/// re-created service or an edited task never gets another's template.
#[derive(Default)]
pub struct Templates {
    by_version: HashMap<(String, String, i64), Arc<TaskTemplate>>,
    added: usize,
}

impl Templates {
    /// Gives `task` the held template equal to its own, or holds its own for the next ones.
    pub fn share(&mut self, task: &mut Task) {
        let Some(version) = task.spec.spec_version else {
            return;
        };
        let key = (
            task.metadata.namespace.clone().unwrap_or_default(),
            task.spec.service_name.clone(),
            version,
        );
        match self.by_version.get(&key) {
            Some(held) if Arc::ptr_eq(held, &task.spec.template) => {}
            Some(held) if **held == *task.spec.template => task.spec.template = held.clone(),
            _ => {
                self.by_version.insert(key, task.spec.template.clone());
                self.added += 1;
                if self.added >= SWEEP_EVERY {
                    self.added = 0;
                    // Held only here: no cached task has it any more.
                    self.by_version.retain(|_, t| Arc::strong_count(t) > 1);
                }
            }
        }
    }

    /// Templates held.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.by_version.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::TaskState;

    use crate::test_support::service;

    fn task_for(svc: &flotilla_api::SwarmService, slot: i64) -> Task {
        let running = TaskState::Running;
        crate::test_support::task(svc, slot, None, running, running, slot)
    }

    #[test]
    fn tasks_of_one_spec_version_share_one_template() {
        let svc = service("web", 3);
        let mut templates = Templates::default();
        let mut tasks: Vec<Task> = (1..=3).map(|slot| task_for(&svc, slot)).collect();
        for t in &mut tasks {
            templates.share(t);
        }
        assert!(Arc::ptr_eq(
            &tasks[0].spec.template,
            &tasks[1].spec.template
        ));
        assert!(Arc::ptr_eq(
            &tasks[0].spec.template,
            &tasks[2].spec.template
        ));
        assert_eq!(templates.held(), 1);
    }

    #[test]
    fn a_different_template_is_never_shared() {
        let svc = service("web", 2);
        let mut templates = Templates::default();
        let mut a = task_for(&svc, 1);
        let mut b = task_for(&svc, 2);
        Arc::make_mut(&mut b.spec.template).container_spec.image = "other".into();
        templates.share(&mut a);
        templates.share(&mut b);
        assert_eq!(b.spec.template.container_spec.image, "other");
        assert!(!Arc::ptr_eq(&a.spec.template, &b.spec.template));
    }

    #[test]
    fn templates_no_task_uses_are_let_go() {
        let mut templates = Templates::default();
        for i in 0..SWEEP_EVERY + 1 {
            let svc = service(&format!("svc-{i}"), 1);
            let mut task = task_for(&svc, 1);
            templates.share(&mut task);
        }
        // Each task was dropped after its turn: the sweep at the 256th addition kept only that
        // task's template (its task was alive then), and the 257th came after.
        assert_eq!(templates.held(), 2);
    }
}
