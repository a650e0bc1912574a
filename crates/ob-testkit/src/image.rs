//! Makes sure the builder image exists before a test uses it: created once per machine through
//! `ob_sandbox::image::create`, under a file lock because test binaries run in parallel processes.

use std::sync::OnceLock;

use ob_sandbox::image::{self, CreateOptions, CreateReporter};

/// Steps go to stderr, which the test harness shows only for failing tests.
struct StderrReporter;

impl CreateReporter for StderrReporter {
    fn on_step(&self, message: &str) {
        eprintln!("[builder image] {message}");
    }
}

/// The default builder image's reference, after making sure Docker has it (creating it takes
/// about two minutes, the first time on a machine). Callable from plain and from tokio tests.
///
/// Panics with the reason when the image can neither be found nor made: a test that needs
/// containers cannot run without it.
pub fn builder_image() -> String {
    static READY: OnceLock<String> = OnceLock::new();
    READY.get_or_init(ensure_builder_image).clone()
}

fn ensure_builder_image() -> String {
    let lock_path = std::env::temp_dir().join("offline-build-test-builder-image.lock");
    let lock = fs_err::File::create(&lock_path).unwrap_or_else(|err| {
        panic!(
            "cannot open the image lock `{}`: {err}",
            lock_path.display()
        )
    });
    // Held until this function returns: one process creates, the others wait and then find it.
    lock.file()
        .lock()
        .unwrap_or_else(|err| panic!("cannot lock `{}`: {err}", lock_path.display()));
    // A thread of its own, so this also works when called from inside a tokio runtime.
    let created = std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        runtime.block_on(async {
            let sandbox = ob_sandbox::Sandbox::connect()
                .await
                .map_err(|err| err.to_string())?;
            image::create(&sandbox, &CreateOptions::default(), &StderrReporter)
                .await
                .map_err(|err| err.to_string())
        })
    })
    .join();
    match created {
        Ok(Ok(outcome)) => outcome.info.reference,
        Ok(Err(err)) => panic!("the builder image is missing and could not be created: {err}"),
        Err(_) => panic!("creating the builder image panicked"),
    }
}
