# How `sam build` builds each function (BuildMethod: makefile in template.yaml): SAM runs
# `make build-<LogicalId>` in this folder (build_in_source in samconfig.toml) with ARTIFACTS_DIR set
# to the function's package folder.
#
# Each target builds one binary with cargo-lambda (release, arm64, the committed Cargo.lock) and puts
# two files in the package: `bootstrap` (the binary Lambda runs) and `manifest.toml` (the provisioning
# manifest the app installs; APP_MANIFEST in template.yaml names it). The manifest is MANIFEST:
#
#   sam build                                  # manifest/demo.toml
#   MANIFEST=manifest/app.toml sam build       # your own manifest
#
# cargo lambda runs at the workspace root, where the workspace's default members are the
# functions only, so features of test crates and tools are never compiled into a deployed binary.

MANIFEST ?= manifest/demo.toml
CARGO_LAMBDA ?= cargo lambda
LAMBDA_DIR ?= target/lambda

define package
	$(CARGO_LAMBDA) build --release --arm64 --locked --bin $(1) --lambda-dir $(LAMBDA_DIR)
	test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: run this through sam build" >&2; exit 1; }
	test -f "$(MANIFEST)" || { echo "MANIFEST $(MANIFEST) does not exist" >&2; exit 1; }
	cp $(LAMBDA_DIR)/$(1)/bootstrap "$(ARTIFACTS_DIR)/bootstrap"
	cp "$(MANIFEST)" "$(ARTIFACTS_DIR)/manifest.toml"
endef

.PHONY: build-RedirectFunction build-InstallFunction build-WorkerFunction build-WebhooksFunction \
	build-LifecycleFunction build-BackupFunction build-DeployCheckFunction

build-RedirectFunction:
	$(call package,redirect)

build-InstallFunction:
	$(call package,install)

build-WorkerFunction:
	$(call package,worker)

build-WebhooksFunction:
	$(call package,webhooks)

build-LifecycleFunction:
	$(call package,lifecycle)

build-BackupFunction:
	$(call package,backup)

# CodeDeploy's PreTraffic hook (it reads no manifest; the package carries it like every function's).
build-DeployCheckFunction:
	$(call package,deploy-check)
