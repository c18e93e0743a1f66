# The `metricstor` binary, built from the workspace's Cargo.lock. Used by the flake's overlay
# (pkgs.metricstor) and packages.<system>.default.
{ lib, rustPlatform, git }:

let
  workspace = (lib.importTOML ../Cargo.toml).workspace.package;
in
rustPlatform.buildRustPackage {
  pname = "metricstor";
  inherit (workspace) version;

  # Only what cargo reads: every workspace member (bench included, or cargo cannot load the
  # workspace), never target/ or the fuzz corpus.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../bench
      ../core
      ../net
      ../promql
      ../proto
      ../tsdb
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [ "-p" "metricstor" ];

  # glommio's build script runs `git submodule update --init` and unwraps the spawn: without a
  # git binary it panics. With one, the command fails harmlessly (no repository) and the
  # liburing sources shipped in the crate are used.
  nativeBuildInputs = [ git ];

  # The tests need io_uring and network loopback, which the Nix build sandbox may not give;
  # CI runs them (`cargo test --workspace`), and the NixOS VM test runs the built binary.
  doCheck = false;

  meta = {
    description = "Prometheus-compatible time-series database: remote_write in, PromQL out";
    license = lib.licenses.asl20;
    mainProgram = "metricstor";
    platforms = lib.platforms.linux;
  };
}
