import Foundation
import PackagePlugin

/// Writes `BuildInfo.swift` (the version and the git commit being built) for `hello-sockets --version`, by
/// running `scripts/build-info.sh` before every build. A prebuild command rather than a build command:
/// the commit changes without any input file SwiftPM tracks changing, so it must be asked each time; the
/// script rewrites the file only when its content changes, so an unchanged commit recompiles nothing.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("generated")
        let root = context.package.directoryURL
        return [
            .prebuildCommand(
                displayName: "Recording the version and git commit of \(target.name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [root.appendingPathComponent("scripts/build-info.sh").path, root.path, output.path],
                outputFilesDirectory: output
            )
        ]
    }
}
