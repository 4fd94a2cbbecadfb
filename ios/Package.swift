// swift-tools-version:5.9
// Tapprove for iOS: the Rust core as an XCFramework (binary target `TapproveFFI`, built by
// scripts/build-xcframework.sh), the uniffi-generated Swift API plus the iOS helpers in the
// `Tapprove` target, and tests.
import PackageDescription

let package = Package(
    name: "Tapprove",
    defaultLocalization: "en",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "Tapprove", targets: ["Tapprove"]),
    ],
    targets: [
        // Static libraries for iOS devices and the simulator (arm64 + x86_64), headers and the
        // `TapproveFFI` module map. Built locally; a release would use a URL + checksum instead.
        .binaryTarget(name: "TapproveFFI", path: "TapproveFFI.xcframework"),
        // Sources/Tapprove/Generated/Tapprove.swift is copied from bindings/generated/swift by
        // the build script; the other files are the hand-written helpers.
        .target(
            name: "Tapprove",
            dependencies: ["TapproveFFI"],
            path: "Sources/Tapprove",
            // The string catalog of every user-facing text (English, German).
            resources: [.process("Resources")],
            linkerSettings: [.linkedFramework("Security"), .linkedFramework("SystemConfiguration")]
        ),
        .testTarget(name: "TapproveTests", dependencies: ["Tapprove"], path: "Tests/TapproveTests"),
    ]
)
