//! Makes sure the builder image exists before a test uses it: created once per machine through
//! `ob_sandbox::image::create`, under a file lock because test binaries run in parallel processes.
//! Also its content digest, for tests that write locks pinned to it.

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

/// The builder image's reference and content digest (what a lock pins as `image-digest`), after
/// [`builder_image`] made sure Docker has it. Looked up once per test binary.
pub fn builder_image_with_digest() -> (String, String) {
    static INSPECTED: OnceLock<(String, String)> = OnceLock::new();
    INSPECTED
        .get_or_init(|| {
            let reference = builder_image();
            let digest = on_own_runtime({
                let reference = reference.clone();
                move || async move {
                    let sandbox = ob_sandbox::Sandbox::connect()
                        .await
                        .map_err(|err| err.to_string())?;
                    match image::inspect(&sandbox, &reference).await {
                        Ok(Some(info)) => Ok(info.digest),
                        Ok(None) => Err(format!("Docker has no `{reference}`")),
                        Err(err) => Err(err.to_string()),
                    }
                }
            })
            .unwrap_or_else(|err| panic!("cannot inspect the builder image: {err}"));
            (reference, digest)
        })
        .clone()
}

/// Runs `task` to completion on a runtime of its own, in a thread of its own, so this also works
/// when called from inside a tokio runtime.
fn on_own_runtime<T, F, Fut>(task: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        runtime.block_on(task())
    })
    .join()
    .unwrap_or_else(|_| Err("the task panicked".to_owned()))
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
    let created = on_own_runtime(|| async {
        let sandbox = ob_sandbox::Sandbox::connect()
            .await
            .map_err(|err| err.to_string())?;
        image::create(&sandbox, &CreateOptions::default(), &StderrReporter)
            .await
            .map_err(|err| err.to_string())
    });
    match created {
        Ok(outcome) => outcome.info.reference,
        Err(err) => panic!("the builder image is missing and could not be created: {err}"),
    }
}

/// The OCI runtime the adversarial suite runs its containers under: `OB_TEST_RUNTIME` (CI sets
/// `runsc` for a second pass under gVisor), else the daemon's default.
pub fn runtime() -> Option<String> {
    std::env::var("OB_TEST_RUNTIME")
        .ok()
        .filter(|name| !name.is_empty())
}
