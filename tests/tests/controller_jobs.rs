//! Jobs against the real api-server over real etcd, with the fake agent completing tasks of the
//! job image: a replicated job runs its completions at most maxConcurrent at a time and re-runs on
//! forceUpdate; a global job completes once per node, and on nodes that join later.

mod controller_support;

use std::cell::Cell;
use std::collections::BTreeMap;

use controller_support::{observed, Cluster, JOB_IMAGE};
use flotilla_api::{Task, TaskState};
use flotilla_tests::kubectl::Kubectl;
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn job(name: &str, mode: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: SwarmService\nmetadata:\n  name: {name}\nspec:\n  mode:\n{mode}\n  taskTemplate:\n    containerSpec:\n      image: {JOB_IMAGE}\n"
    )
}

/// Tasks of `iteration` observed RUNNING and meant to complete.
fn running(tasks: &[Task], iteration: i64) -> usize {
    tasks
        .iter()
        .filter(|t| t.spec.job_iteration == Some(iteration))
        .filter(|t| {
            observed(t) == TaskState::Running && t.spec.desired_state == TaskState::Complete
        })
        .count()
}

/// Slots of the tasks of `iteration` that completed.
fn completed_slots(tasks: &[Task], iteration: i64) -> Vec<i64> {
    let mut slots: Vec<i64> = tasks
        .iter()
        .filter(|t| t.spec.job_iteration == Some(iteration) && observed(t) == TaskState::Complete)
        .filter_map(|t| t.spec.slot)
        .collect();
    slots.sort();
    slots
}

/// Waits for 5 completions of `iteration`, checking at every poll that at most 2 run at once.
async fn five_completions_two_at_a_time(c: &Cluster, iteration: i64) -> Vec<Task> {
    let most = Cell::new(0);
    let tasks = c
        .eventually(60, "5 completed tasks", || async {
            let tasks = c.tasks_of("batch").await;
            let now = running(&tasks, iteration);
            assert!(now <= 2, "{now} tasks running at once, maxConcurrent is 2");
            most.set(most.get().max(now));
            (completed_slots(&tasks, iteration) == [0, 1, 2, 3, 4]).then_some(tasks)
        })
        .await;
    assert_eq!(most.get(), 2, "the job ran 2 tasks at a time");
    tasks
}

#[tokio::test(flavor = "multi_thread")]
async fn replicated_job_runs_total_completions_max_concurrent_at_a_time() {
    let c = Cluster::start(&["n1", "n2"]).await;
    let mode = "    replicatedJob:\n      maxConcurrent: 2\n      totalCompletions: 5";
    c.create_service(&job("batch", mode)).await;
    five_completions_two_at_a_time(&c, 0).await;
    let status = c
        .eventually(10, "status: 5 completed, none running", || async {
            let s = c.services().get("batch").await.ok()?.status?;
            (s.completed_tasks == Some(5) && s.running_replicas == Some(0)).then_some(s)
        })
        .await;
    assert_eq!(status.replicas, Some(2));
    let job_status = status.job_status.expect("jobStatus");
    assert_eq!(job_status.job_iteration, 0);
    assert!(job_status.last_execution.is_some());
    // Completed tasks are not restarted and no sixth task appears.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let tasks = c.tasks_of("batch").await;
    assert_eq!(tasks.len(), 5, "{tasks:#?}");
    let kubeconfig = c.server.kubeconfig.clone();
    let row = tokio::task::spawn_blocking(move || {
        let k = Kubectl::new(33, &kubeconfig).expect("kubectl 1.33 installed");
        k.run(&["get", "ssvc", "batch", "--no-headers"]).ok().stdout
    })
    .await
    .unwrap();
    assert!(
        row.contains("replicated job") && row.contains("0/2 (5/5 completed)"),
        "{row}"
    );

    // forceUpdate re-runs the job as iteration 1; iteration 0's completions stay as history.
    let force = json!({"spec": {"taskTemplate": {"forceUpdate": 1}}});
    c.services()
        .patch("batch", &PatchParams::default(), &Patch::Merge(force))
        .await
        .unwrap();
    let tasks = five_completions_two_at_a_time(&c, 1).await;
    assert_eq!(completed_slots(&tasks, 0), [0, 1, 2, 3, 4]);
    c.eventually(10, "status of iteration 1", || async {
        let s = c.services().get("batch").await.ok()?.status?;
        (s.job_status?.job_iteration == 1 && s.completed_tasks == Some(5)).then_some(())
    })
    .await;
}

/// Node → number of completed tasks there.
fn completions_per_node(tasks: &[Task]) -> BTreeMap<String, usize> {
    let mut per_node = BTreeMap::new();
    for t in tasks.iter().filter(|t| observed(t) == TaskState::Complete) {
        *per_node
            .entry(t.spec.node_name.clone().unwrap_or_default())
            .or_default() += 1;
    }
    per_node
}

#[tokio::test(flavor = "multi_thread")]
async fn global_job_completes_once_per_node_and_on_a_joining_node() {
    let c = Cluster::start(&["n1", "n2", "n3"]).await;
    c.create_service(&job("batch", "    globalJob: {}")).await;
    let once = BTreeMap::from([("n1".into(), 1), ("n2".into(), 1), ("n3".into(), 1)]);
    c.eventually(30, "one completion per node", || async {
        (completions_per_node(&c.tasks_of("batch").await) == once).then_some(())
    })
    .await;
    c.eventually(10, "status: 3 completed, nothing left to run", || async {
        let s = c.services().get("batch").await.ok()?.status?;
        (s.completed_tasks == Some(3) && s.replicas == Some(0)).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let tasks = c.tasks_of("batch").await;
    assert_eq!(tasks.len(), 3, "no task after completion: {tasks:#?}");
    assert!(tasks.iter().all(|t| t.spec.slot.is_none()));

    c.add_node("n4").await;
    let mut four = once.clone();
    four.insert("n4".into(), 1);
    c.eventually(30, "the joining node completes too", || async {
        (completions_per_node(&c.tasks_of("batch").await) == four).then_some(())
    })
    .await;
}
