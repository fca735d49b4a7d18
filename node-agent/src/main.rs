fn main() -> std::process::ExitCode {
    eprintln!("{}", flotilla_node_agent::NOT_YET);
    std::process::ExitCode::from(69) // EX_UNAVAILABLE
}
