fn main() -> anyhow::Result<()> {
    anyhow::bail!("flotilla-api-server: under construction (issue #3)")
}
