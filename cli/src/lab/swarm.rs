//! Docker Swarm on this machine's engine: `docker swarm init` for an experiment, `docker swarm
//! leave --force` after it (also when the experiment fails: on drop), so swarm mode is left
//! inactive as it was found. Driven through the docker CLI, as a reader would.

use super::system::{docker, ServiceSpec, System, STOP_GRACE};

/// The label the engine puts on a Swarm task's container.
const SERVICE_LABEL: &str = "com.docker.swarm.service.name";

/// A single-node swarm (this engine is its only manager) for the life of the value.
pub struct Swarm {
    left: bool,
}

impl Swarm {
    /// Inits swarm mode; refuses when it is already active (leaving it afterwards would
    /// destroy someone else's swarm).
    pub fn init() -> anyhow::Result<Swarm> {
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])?;
        anyhow::ensure!(
            state.trim() == "inactive",
            "swarm mode is {} on this engine; the lab inits and leaves its own swarm, so it \
             needs it inactive (`docker swarm leave --force` if it is yours)",
            state.trim()
        );
        docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"])?;
        println!("  docker swarm init --advertise-addr 127.0.0.1");
        Ok(Swarm { left: false })
    }

    /// `docker swarm leave --force`: removes the services and their containers too.
    pub fn leave(mut self) -> anyhow::Result<()> {
        self.left = true;
        docker(&["swarm", "leave", "--force"])?;
        println!("  docker swarm leave --force");
        Ok(())
    }

    /// This node's id (`docker node ls` has one row: this engine).
    pub fn node_id(&self) -> anyhow::Result<String> {
        Ok(docker(&["info", "--format", "{{.Swarm.NodeID}}"])?
            .trim()
            .to_string())
    }

    /// `docker node update --availability <a> <self>`.
    pub fn set_availability(&self, availability: &str) -> anyhow::Result<()> {
        let id = self.node_id()?;
        docker(&["node", "update", "--availability", availability, &id])?;
        Ok(())
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if !self.left {
            let _ = docker(&["swarm", "leave", "--force"]);
        }
    }
}

/// `docker service create` flags for a spec.
pub fn create_args(spec: &ServiceSpec) -> Vec<String> {
    let mut args: Vec<String> = ["service", "create", "--detach", "--no-resolve-image"]
        .map(String::from)
        .to_vec();
    args.push(format!("--name={}", spec.name));
    args.push(format!("--replicas={}", spec.replicas));
    args.push(format!("--stop-grace-period={}ms", STOP_GRACE.as_millis()));
    if let Some(d) = spec.restart_delay {
        args.push(format!("--restart-delay={}ms", d.as_millis()));
    }
    if let Some((parallelism, delay)) = spec.update {
        args.push(format!("--update-parallelism={parallelism}"));
        args.push(format!("--update-delay={}ms", delay.as_millis()));
    }
    args.push(super::IMAGE.into());
    args
}

/// The running count out of `docker service ls`'s REPLICAS column (`3/10`).
pub fn parse_replicas(column: &str) -> Option<usize> {
    column.trim().split('/').next()?.trim().parse().ok()
}

impl System for Swarm {
    fn name(&self) -> &'static str {
        "swarm"
    }

    fn container_label(&self, service: &str) -> String {
        format!("{SERVICE_LABEL}={service}")
    }

    async fn create(&mut self, spec: &ServiceSpec) -> anyhow::Result<()> {
        let args = create_args(spec);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&args)?;
        Ok(())
    }

    async fn running(&mut self, service: &str) -> anyhow::Result<usize> {
        let filter = format!("name={service}");
        let out = docker(&[
            "service",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}} {{.Replicas}}",
        ])?;
        let column = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{service} ")))
            .unwrap_or("0/0");
        Ok(parse_replicas(column).unwrap_or(0))
    }

    async fn update_env(&mut self, service: &str, value: &str) -> anyhow::Result<()> {
        let env = format!("LAB_VERSION={value}");
        docker(&["service", "update", "--detach", "--env-add", &env, service])?;
        Ok(())
    }

    async fn update_completed(&mut self, service: &str) -> anyhow::Result<bool> {
        let state = docker(&[
            "service",
            "inspect",
            "--format",
            "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
            service,
        ])?;
        Ok(state.trim() == "completed")
    }

    async fn remove(&mut self, service: &str) -> anyhow::Result<()> {
        docker(&["service", "rm", service])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn create_flags_follow_the_spec() {
        let mut spec = ServiceSpec::new("lab-web", 10);
        spec.restart_delay = Some(Duration::ZERO);
        spec.update = Some((2, Duration::from_secs(1)));
        let args = create_args(&spec).join(" ");
        assert_eq!(
            args,
            "service create --detach --no-resolve-image --name=lab-web --replicas=10 \
             --stop-grace-period=1000ms --restart-delay=0ms --update-parallelism=2 --update-delay=1000ms flotilla/web:latest"
        );
        let plain = create_args(&ServiceSpec::new("w", 1)).join(" ");
        assert!(
            !plain.contains("restart-delay"),
            "the default is kept: {plain}"
        );
    }

    #[test]
    fn replicas_column() {
        assert_eq!(parse_replicas("3/10"), Some(3));
        assert_eq!(parse_replicas("10/10 (max 2 per node)"), Some(10));
        assert_eq!(parse_replicas(""), None);
    }
}
