# stub-lib.nix plus the few lib functions flake.nix and package.nix use.
let lib = import ../stub-lib.nix; in
lib // {
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  fileset = {
    unions = paths: paths;
    toSource = { root, fileset }: { inherit root fileset; };
  };
  licenses.asl20 = { spdxId = "Apache-2.0"; };
  platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
}
