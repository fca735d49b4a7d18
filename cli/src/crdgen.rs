//! `flotilla crdgen`: the CustomResourceDefinitions generated from the `api` crate.

use std::path::PathBuf;

use anyhow::Context;

pub fn crdgen(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let Some(dir) = out_dir else {
        print!("{}", flotilla_api::crds_yaml());
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for crd in flotilla_api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, flotilla_api::crd_yaml(&crd))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
