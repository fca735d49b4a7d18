fn main() -> std::process::ExitCode {
    eprintln!("{}", flotilla_controller_manager::NOT_YET);
    std::process::ExitCode::from(69) // EX_UNAVAILABLE
}
