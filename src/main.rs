use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = regional_mailbox::cli::Cli::parse();
    match regional_mailbox::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
