# A stand-in for `import nixpkgs { system; overlays; }`, for stub-flake.nix: the stub pkgs of
# stub-harness.nix plus what flake.nix, package.nix and the VM test call, each returning its
# arguments so the checks can read them.
{ system, overlays ? [ ] }:
let
  harness = import ../stub-harness.nix { };
  lib = import ./lib.nix;
  base = harness.pkgs // {
    inherit lib;
    stdenv.hostPlatform.system = system;
    rustPlatform.buildRustPackage = attrs: attrs // { type = "derivation"; outPath = "/stub/metricstor"; };
    callPackage = path: extra:
      let fn = import path;
      in fn (builtins.intersectAttrs (builtins.functionArgs fn) final // extra);
    runCommand = name: env: script: { type = "derivation"; inherit name script; outPath = "/stub/${name}"; };
    testers.runNixOSTest = test: test;
    mkShell = attrs: attrs;
  } // builtins.listToAttrs (map (name: { inherit name; value = { outPath = "/stub/${name}"; }; })
    [ "git" "openssl" "cargo" "rustc" "clippy" "rustfmt" "cargo-nextest" "cargo-fuzz" "prometheus" "jq" ]);
  final = builtins.foldl' (acc: overlay: acc // overlay final acc) base overlays;
in
final
