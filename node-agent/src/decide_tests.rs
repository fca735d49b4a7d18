use super::*;
use pretty_assertions::assert_eq;
use TaskState::*;

fn created() -> Observation {
    Observation::Created {
        container_id: "c1".into(),
    }
}

fn running_obs() -> Observation {
    Observation::Running {
        container_id: "c1".into(),
        pid: Some(42),
    }
}

fn exited(code: i64) -> Observation {
    Observation::Exited {
        container_id: "c1".into(),
        exit_code: code,
    }
}

#[test]
fn walks_the_happy_path_with_swarm_messages() {
    let absent = Observation::Absent;
    // Accepted and Ready are passed through: Assigned is answered with Preparing, and a
    // prepared task meant to run reports Starting.
    assert_eq!(
        decide(Running, Assigned, &absent),
        Step::Report(Transition::to(Preparing, "preparing"))
    );
    assert_eq!(decide(Running, Preparing, &absent), Step::Prepare);
    assert_eq!(prepared(Running), Transition::to(Starting, "starting"));
    assert_eq!(decide(Running, Starting, &created()), Step::Start);
    assert_eq!(
        decide(Running, Starting, &running_obs()),
        Step::Report(Transition::to(Running, "started"))
    );
    assert_eq!(decide(Running, Running, &running_obs()), Step::Wait);
}

#[test]
fn ignores_tasks_not_yet_assigned() {
    // A global task carries its node name from creation; the scheduler still has to confirm it.
    assert_eq!(decide(Running, New, &Observation::Absent), Step::Wait);
    assert_eq!(decide(Running, Pending, &Observation::Absent), Step::Wait);
}

#[test]
fn written_states_an_older_agent_left_go_on() {
    // Tasks an agent wrote at Accepted or Ready (before these were folded) still move on.
    assert_eq!(
        decide(Running, Accepted, &Observation::Absent),
        Step::Report(Transition::to(Preparing, "preparing"))
    );
    assert_eq!(
        decide(Running, Ready, &created()),
        Step::Report(Transition::to(Starting, "starting"))
    );
}

#[test]
fn desired_ready_prepares_but_does_not_start() {
    assert_eq!(
        decide(Ready, Assigned, &Observation::Absent),
        Step::Report(Transition::to(Preparing, "preparing"))
    );
    assert_eq!(
        decide(Ready, Preparing, &Observation::Absent),
        Step::Prepare
    );
    // It is written at Ready, where it rests until promoted.
    assert_eq!(prepared(Ready), Transition::to(Ready, "prepared"));
    assert_eq!(decide(Ready, Ready, &created()), Step::Wait);
}

#[test]
fn does_not_prepare_past_desired_accepted() {
    // Accepted is written only for a task meant to rest there.
    assert_eq!(
        decide(Accepted, Assigned, &Observation::Absent),
        Step::Report(Transition::to(Accepted, "accepted"))
    );
    assert_eq!(decide(Accepted, Accepted, &Observation::Absent), Step::Wait);
}

#[test]
fn waits_for_health_before_running() {
    let starting = Observation::Starting {
        container_id: "c1".into(),
    };
    assert_eq!(decide(Running, Starting, &starting), Step::Wait);
    let unhealthy = Observation::Unhealthy {
        container_id: "c1".into(),
    };
    assert_eq!(
        decide(Running, Starting, &unhealthy),
        Step::Report(Transition::failed(
            Failed,
            "unhealthy container".into(),
            None
        ))
    );
    assert_eq!(
        decide(Running, Running, &unhealthy),
        Step::Report(Transition::failed(
            Failed,
            "unhealthy container".into(),
            None
        ))
    );
}

#[test]
fn exits_complete_or_fail_with_exit_code() {
    assert_eq!(
        decide(Running, Running, &exited(0)),
        Step::Report(Transition {
            exit_code: Some(0),
            ..Transition::to(Complete, "finished")
        })
    );
    assert_eq!(
        decide(Running, Running, &exited(3)),
        Step::Report(Transition::failed(
            Failed,
            "task: non-zero exit (3)".into(),
            Some(3)
        ))
    );
    // A job whose desired state is Complete runs to completion the same way.
    assert_eq!(
        decide(Complete, Running, &exited(0)),
        Step::Report(Transition {
            exit_code: Some(0),
            ..Transition::to(Complete, "finished")
        })
    );
}

#[test]
fn shutdown_stops_a_live_container_and_reports_once() {
    assert_eq!(
        decide(Shutdown, Running, &running_obs()),
        Step::Stop { report: true }
    );
    assert_eq!(
        decide(Shutdown, Running, &exited(137)),
        Step::Report(Transition::to(Shutdown, "shutdown"))
    );
    assert_eq!(
        decide(Shutdown, Assigned, &Observation::Absent),
        Step::Report(Transition::to(Shutdown, "shutdown"))
    );
    assert_eq!(decide(Shutdown, New, &Observation::Absent), Step::Wait);
    assert_eq!(decide(Shutdown, Shutdown, &exited(137)), Step::Wait);
    // Already failed: stop leftovers without reporting (state never decreases).
    assert_eq!(
        decide(Shutdown, Failed, &running_obs()),
        Step::Stop { report: false }
    );
}

#[test]
fn remove_deletes_the_container_after_shutdown() {
    assert_eq!(
        decide(Remove, Running, &running_obs()),
        Step::Stop { report: true }
    );
    assert_eq!(decide(Remove, Shutdown, &exited(0)), Step::Remove);
    assert_eq!(decide(Remove, Shutdown, &Observation::Absent), Step::Wait);
}

#[test]
fn terminal_states_never_move() {
    for state in [Complete, Failed, Rejected, Shutdown, Orphaned] {
        assert_eq!(decide(Running, state, &exited(0)), Step::Wait, "{state}");
    }
}

#[test]
fn vanished_container_fails_the_task() {
    assert!(matches!(
        decide(Running, Running, &Observation::Absent),
        Step::Report(Transition { state: Failed, .. })
    ));
}
