use clap::Parser as _;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match strata::cli::run(strata::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain: "Failed to connect...: refused".
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
