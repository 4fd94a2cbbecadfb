#!/usr/bin/env bash
# Builds ios/TapproveFFI.xcframework and ios/Sources/Tapprove/Generated/Tapprove.swift on macOS.
#
# Steps (each one is printed as it runs):
#   1. generate the Swift bindings from the host build (cargo xtask bindings);
#   2. add the iOS Rust targets (device arm64, simulator arm64 and x86_64);
#   3. build the static library (release profile: opt-level z, fat LTO, strip) for each target;
#   4. merge the two simulator architectures into one library with lipo;
#   5. lay out the C header and module map (module `TapproveFFI`);
#   6. create the XCFramework with xcodebuild;
#   7. copy the generated Swift into the `Tapprove` target.
# Then: open ios/Package.swift in Xcode, or add ios/ as a local package to an app.
#
# With `--package DIR` (the Swift package folder `cargo xtask package` wrote,
# target/package/swift/Tapprove): step 7 instead zips the XCFramework next to DIR as
# TapproveFFI.xcframework.zip (upload it to the release the URL in DIR/Package.swift names) and
# writes its checksum into DIR/Package.swift; DIR already holds the generated Swift.
#
# Needs: macOS with Xcode (xcodebuild, lipo, swift), rustup. Run from anywhere.
set -euo pipefail
PACKAGE_DIR=""
if [[ "${1:-}" == "--package" ]]; then
  [[ -n "${2:-}" && -f "$2/Package.swift" ]] || { echo "build-xcframework.sh: --package needs the folder with Package.swift (cargo xtask package)" >&2; exit 2; }
  PACKAGE_DIR="$(cd "$2" && pwd)"
fi
cd "$(dirname "$0")/../.."
ROOT="$(pwd)"
OUT="$ROOT/ios/build"
LIB=libtapprove_ffi.a

if [[ "$(uname)" != "Darwin" ]]; then
  echo "build-xcframework.sh: needs macOS with Xcode (xcodebuild, lipo); this is $(uname)." >&2
  exit 1
fi

step() { echo; echo "==> $*"; }

step "1/7 generate bindings"
cargo xtask bindings

step "2/7 Rust targets"
rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios

step "3/7 build $LIB for each target"
for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  cargo build --release -p tapprove-bindings --lib --target "$target"
done

step "4/7 merge simulator architectures"
rm -rf "$OUT" && mkdir -p "$OUT/sim" "$OUT/headers"
lipo -create \
  "target/aarch64-apple-ios-sim/release/$LIB" \
  "target/x86_64-apple-ios/release/$LIB" \
  -output "$OUT/sim/$LIB"

step "5/7 header and module map"
cp bindings/generated/swift/TapproveFFI.h "$OUT/headers/"
cp bindings/generated/swift/TapproveFFI.modulemap "$OUT/headers/module.modulemap"

step "6/7 xcframework"
rm -rf ios/TapproveFFI.xcframework
xcodebuild -create-xcframework \
  -library "target/aarch64-apple-ios/release/$LIB" -headers "$OUT/headers" \
  -library "$OUT/sim/$LIB" -headers "$OUT/headers" \
  -output ios/TapproveFFI.xcframework

if [[ -n "$PACKAGE_DIR" ]]; then
  step "7/7 zip, checksum into $PACKAGE_DIR/Package.swift"
  ZIP="$(dirname "$PACKAGE_DIR")/TapproveFFI.xcframework.zip"
  rm -f "$ZIP"
  (cd ios && ditto -c -k --sequesterRsrc --keepParent TapproveFFI.xcframework "$ZIP")
  CHECKSUM="$(swift package compute-checksum "$ZIP")"
  sed -i '' "s/TAPPROVE_XCFRAMEWORK_CHECKSUM/$CHECKSUM/" "$PACKAGE_DIR/Package.swift"
  echo "done: $ZIP (checksum $CHECKSUM). Upload it to the release Package.swift names, then tag."
  exit 0
fi

step "7/7 generated Swift into the Tapprove target"
mkdir -p ios/Sources/Tapprove/Generated
cp bindings/generated/swift/Tapprove.swift ios/Sources/Tapprove/Generated/Tapprove.swift

echo
echo "done: ios/TapproveFFI.xcframework. Test: (cd ios && xcodebuild test -scheme Tapprove -destination 'platform=iOS Simulator,name=iPhone 16')"
