//! The per-task decision, as a pure function: given what the managers want (desired state), what
//! the agent last reported (observed state) and what the runtime sees, what to do next.
//!
//! It follows SwarmKit's `agent/exec/controller.go: Do`: desired ≥ Shutdown stops the container;
//! otherwise Assigned → Accepted → Preparing (only while observed < desired) → Ready →
//! Starting (only when desired > Ready) → Running → Complete. Errors before Starting reject the
//! task, errors at or after Starting fail it. Observed state only ever increases.
//!
//! Each report is a write, so a state the task only passes through is not written on its own:
//! Accepted goes out as Preparing, and a prepared task meant to run goes out as Starting. Swarm's
//! agent folds them the same way when its reporter has not sent the earlier one yet. A task
//! written at Accepted or Ready rests there (its desired state says so).

use flotilla_api::TaskState;

/// What the runtime currently sees of a task's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// No container (never prepared, or removed).
    Absent,
    /// Created (prepared), not started.
    Created { container_id: String },
    /// Started, but its healthcheck has not passed yet.
    Starting { container_id: String },
    /// Started (and healthy when it has a healthcheck).
    Running {
        container_id: String,
        pid: Option<i64>,
    },
    /// Its healthcheck failed.
    Unhealthy { container_id: String },
    /// Exited with this code.
    Exited {
        container_id: String,
        exit_code: i64,
    },
}

impl Observation {
    pub fn container_id(&self) -> Option<&str> {
        match self {
            Observation::Absent => None,
            Observation::Created { container_id }
            | Observation::Starting { container_id }
            | Observation::Running { container_id, .. }
            | Observation::Unhealthy { container_id }
            | Observation::Exited { container_id, .. } => Some(container_id),
        }
    }

    /// Whether a process may be running and needs stopping.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Observation::Starting { .. }
                | Observation::Running { .. }
                | Observation::Unhealthy { .. }
        )
    }
}

/// A status report: the next observed state with Swarm's message, error and exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub state: TaskState,
    pub message: String,
    pub err: Option<String>,
    pub exit_code: Option<i64>,
}

impl Transition {
    pub fn to(state: TaskState, message: &str) -> Transition {
        Transition {
            state,
            message: message.to_string(),
            err: None,
            exit_code: None,
        }
    }

    pub fn failed(state: TaskState, err: String, exit_code: Option<i64>) -> Transition {
        Transition {
            state,
            message: "started".to_string(),
            err: Some(err),
            exit_code,
        }
    }
}

/// The next action for one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Report this status; no runtime operation.
    Report(Transition),
    /// Create the container; success reports Ready "prepared", an error Rejected.
    Prepare,
    /// Start the container; an error reports Failed.
    Start,
    /// Stop the container (stopGracePeriod), then report Shutdown if `report`.
    Stop { report: bool },
    /// Delete the container (desired Remove, already stopped).
    Remove,
    /// Nothing to do until the task or the container changes.
    Wait,
}

/// Swarm's error for a non-zero exit.
pub fn exit_error(code: i64) -> String {
    format!("task: non-zero exit ({code})")
}

/// Decides the next step for a task.
pub fn decide(desired: TaskState, observed: TaskState, obs: &Observation) -> Step {
    // Swarm's dispatcher ships a task to its node only once the scheduler has assigned (or
    // confirmed a preassigned) it: before that it is the managers' business.
    if observed < TaskState::Assigned {
        return Step::Wait;
    }
    if desired >= TaskState::Shutdown {
        return shut_down(desired, observed, obs);
    }
    if observed.is_terminal() {
        return Step::Wait;
    }
    use TaskState::*;
    match observed {
        // Accepted is passed through unless the task is to rest there: one write, not two.
        Assigned | Accepted if Accepted < desired => {
            Step::Report(Transition::to(Preparing, "preparing"))
        }
        Assigned => Step::Report(Transition::to(Accepted, "accepted")),
        Accepted => Step::Wait,
        Preparing => Step::Prepare,
        Ready if desired > Ready => Step::Report(prepared(desired)),
        Ready => Step::Wait,
        Starting => starting(obs),
        Running => running(obs),
        _ => Step::Wait,
    }
}

/// What a prepared task reports: Starting at once when it is meant to run (Ready is passed
/// through, as Accepted is), else Ready, where it waits to be promoted.
pub fn prepared(desired: TaskState) -> Transition {
    if desired > TaskState::Ready {
        Transition::to(TaskState::Starting, "starting")
    } else {
        Transition::to(TaskState::Ready, "prepared")
    }
}

fn shut_down(desired: TaskState, observed: TaskState, obs: &Observation) -> Step {
    if obs.is_live() {
        return Step::Stop {
            report: !observed.is_terminal(),
        };
    }
    if !observed.is_terminal() {
        return Step::Report(Transition::to(TaskState::Shutdown, "shutdown"));
    }
    if desired == TaskState::Remove && *obs != Observation::Absent {
        return Step::Remove;
    }
    Step::Wait
}

fn starting(obs: &Observation) -> Step {
    match obs {
        Observation::Created { .. } => Step::Start,
        Observation::Starting { .. } => Step::Wait,
        // An exited container did start: report Running, the next step reports the exit.
        Observation::Running { .. } | Observation::Exited { .. } => {
            Step::Report(Transition::to(TaskState::Running, "started"))
        }
        Observation::Unhealthy { .. } => Step::Report(unhealthy()),
        Observation::Absent => Step::Report(Transition::failed(
            TaskState::Failed,
            "task: container removed before it started".to_string(),
            None,
        )),
    }
}

fn running(obs: &Observation) -> Step {
    match obs {
        Observation::Running { .. }
        | Observation::Starting { .. }
        | Observation::Created { .. } => Step::Wait,
        Observation::Exited { exit_code: 0, .. } => Step::Report(Transition {
            exit_code: Some(0),
            ..Transition::to(TaskState::Complete, "finished")
        }),
        Observation::Exited { exit_code, .. } => Step::Report(Transition::failed(
            TaskState::Failed,
            exit_error(*exit_code),
            Some(*exit_code),
        )),
        Observation::Unhealthy { .. } => Step::Report(unhealthy()),
        Observation::Absent => Step::Report(Transition::failed(
            TaskState::Failed,
            "task: container removed while running".to_string(),
            None,
        )),
    }
}

fn unhealthy() -> Transition {
    Transition::failed(TaskState::Failed, "unhealthy container".to_string(), None)
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
