//! Fetches the secrets and configs a task references (the api-server lets a node read only those
//! of its own tasks) and turns them into files for the runtime. Secrets default to
//! `/run/secrets/<name>`, configs to `/<name>`; uid/gid default to 0, mode to 0444 (Swarm's).

use flotilla_api::container::FileTarget;
use flotilla_api::{SwarmConfig, SwarmSecret, Task};
use kube::{Api, Client};

use crate::runtime::FileData;

pub mod tmpfs;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("fetching {kind} {namespace}/{name}: {source}")]
    Fetch {
        kind: &'static str,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

/// The file a reference materializes as; relative targets are placed under `default_dir`.
pub fn file_for(
    name: &str,
    file: Option<&FileTarget>,
    default_dir: &str,
    field: &str,
    data: Vec<u8>,
) -> Result<FileData, SecretError> {
    let target = file
        .and_then(|f| f.name.clone())
        .unwrap_or_else(|| name.to_string());
    let target = if target.starts_with('/') {
        target
    } else {
        format!("{}/{target}", default_dir.trim_end_matches('/'))
    };
    let id = |value: Option<&String>, sub: &str| -> Result<u32, SecretError> {
        match value {
            None => Ok(0),
            Some(v) => v.parse().map_err(|_| SecretError::Invalid {
                field: format!("{field}.file.{sub}"),
                message: format!("{v:?} is not a numeric id"),
            }),
        }
    };
    let f = file.cloned().unwrap_or_default();
    Ok(FileData {
        target,
        data,
        uid: id(f.uid.as_ref(), "uid")?,
        gid: id(f.gid.as_ref(), "gid")?,
        mode: f.mode.map(|m| m as u32).unwrap_or(0o444),
    })
}

/// Fetches every secret and config the task references.
pub async fn resolve(
    client: &Client,
    task: &Task,
) -> Result<(Vec<FileData>, Vec<FileData>), SecretError> {
    let ns = task.metadata.namespace.clone().unwrap_or_default();
    let spec = &task.spec.template.container_spec;
    let fetch_err = |kind, name: &str| {
        let ns = ns.clone();
        let name = name.to_string();
        move |source| SecretError::Fetch {
            kind,
            namespace: ns,
            name,
            source: Box::new(source),
        }
    };
    let secrets_api: Api<SwarmSecret> = Api::namespaced(client.clone(), &ns);
    let mut secrets = Vec::new();
    for (i, r) in spec.secrets.iter().enumerate() {
        let s = secrets_api
            .get(&r.secret_name)
            .await
            .map_err(fetch_err("SwarmSecret", &r.secret_name))?;
        let field = format!("spec.template.containerSpec.secrets[{i}]");
        let file = file_for(
            &r.secret_name,
            r.file.as_ref(),
            "/run/secrets",
            &field,
            s.spec.data.0,
        )?;
        secrets.push(file);
    }
    let configs_api: Api<SwarmConfig> = Api::namespaced(client.clone(), &ns);
    let mut configs = Vec::new();
    for (i, r) in spec.configs.iter().enumerate() {
        let c = configs_api
            .get(&r.config_name)
            .await
            .map_err(fetch_err("SwarmConfig", &r.config_name))?;
        let field = format!("spec.template.containerSpec.configs[{i}]");
        configs.push(file_for(
            &r.config_name,
            r.file.as_ref(),
            "/",
            &field,
            c.spec.data.0,
        )?);
    }
    Ok((secrets, configs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_defaults_to_run_secrets_and_0444() {
        let f = file_for("db", None, "/run/secrets", "s[0]", b"x".to_vec()).unwrap();
        assert_eq!(f.target, "/run/secrets/db");
        assert_eq!((f.uid, f.gid, f.mode), (0, 0, 0o444));
    }

    #[test]
    fn config_target_and_ids_from_file() {
        let file = FileTarget {
            name: Some("etc/app.conf".into()),
            uid: Some("1000".into()),
            gid: Some("10".into()),
            mode: Some(0o400),
        };
        let f = file_for("app", Some(&file), "/", "c[0]", vec![]).unwrap();
        assert_eq!(f.target, "/etc/app.conf");
        assert_eq!((f.uid, f.gid, f.mode), (1000, 10, 0o400));
    }

    #[test]
    fn non_numeric_uid_names_the_field() {
        let file = FileTarget {
            uid: Some("root".into()),
            ..Default::default()
        };
        let e = file_for("db", Some(&file), "/run/secrets", "secrets[2]", vec![]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "secrets[2].file.uid: \"root\" is not a numeric id"
        );
    }
}
