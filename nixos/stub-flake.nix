# Evaluates flake.nix's outputs against stub nixpkgs (stub-nixpkgs/; no network), for
# stub-eval.nix's checks of the package, the module wiring and the VM test's server node.
let
  nixpkgs = {
    lib = import ./stub-nixpkgs/lib.nix;
    outPath = toString ./stub-nixpkgs;
  };
  outputs = (import ../flake.nix).outputs { inherit self nixpkgs; };
  self = outputs // { outPath = toString ../.; };
in
outputs
