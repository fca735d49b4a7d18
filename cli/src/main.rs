fn main() -> anyhow::Result<()> {
    anyhow::bail!("flotilla: under construction (issue #2)")
}
