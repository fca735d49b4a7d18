fn main() -> std::process::ExitCode {
    eprintln!("{}", flotilla_scheduler::NOT_YET);
    std::process::ExitCode::from(69) // EX_UNAVAILABLE
}
