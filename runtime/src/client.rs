//! `--kubeconfig PATH` → [`kube::Client`], shared by every binary.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Reading or parsing the file (the message names the path).
    #[error(transparent)]
    Read(kube::config::KubeconfigError),
    #[error("kubeconfig {path}: {source}")]
    Config {
        path: PathBuf,
        source: kube::config::KubeconfigError,
    },
    #[error("no --kubeconfig given and no in-cluster or default configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("building the API client: {0}")]
    Client(#[from] kube::Error),
}

/// A client for the kubeconfig at `path` (its current context), or, without a path, the usual
/// inference (`$KUBECONFIG`, `~/.kube/config`, in-cluster service account).
pub async fn client_from_kubeconfig(path: Option<&Path>) -> Result<kube::Client, ClientError> {
    let config = match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(ClientError::Read)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|source| ClientError::Config {
                    path: path.to_path_buf(),
                    source,
                })?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_kubeconfig_names_the_path() {
        let Err(err) = client_from_kubeconfig(Some(Path::new("/nonexistent/kubeconfig"))).await
        else {
            panic!("a missing kubeconfig must be an error");
        };
        let message = err.to_string();
        assert!(
            message.contains("/nonexistent/kubeconfig"),
            "error should name the file: {message}"
        );
    }
}
