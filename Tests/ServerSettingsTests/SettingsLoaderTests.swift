import Foundation
import HelloSocketsServer
import PhoenixChannels
import ServerSettings
import XCTest

/// The configuration model: precedence (flag > environment > file > default) and every kind of error,
/// each with the message a person reads.
final class SettingsLoaderTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("channels"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// Writes `text` as a config file and returns its path.
    private func configFile(_ text: String, name: String = "hello.yml") throws -> String {
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    private var channels: String { folder.appendingPathComponent("channels").path }

    private func load(_ arguments: [String], environment: [String: String] = [:]) throws -> LoadedSettings {
        try SettingsLoader(arguments: ["--channels", channels] + arguments, environment: environment).load()
    }

    /// The problems of a load that must fail, as printed.
    private func problems(
        _ arguments: [String], environment: [String: String] = [:], file: StaticString = #filePath,
        line: UInt = #line
    ) -> [String] {
        do {
            let loaded = try load(arguments, environment: environment)
            XCTFail("expected problems, loaded \(loaded.configuration)", file: file, line: line)
            return []
        } catch let error as SettingsError {
            return error.problems.map(\.description)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
            return []
        }
    }

    // MARK: precedence

    func testDefaultsWhenNothingIsGiven() throws {
        let loaded = try load([])
        XCTAssertEqual(loaded.configuration.maxConnections, ServerConfiguration().maxConnections)
        XCTAssertEqual(loaded.configuration.port, 4000)
        XCTAssertEqual(loaded.source(of: Self.setting("max-connections")), .defaultValue)
    }

    func testFileThenEnvironmentThenFlag() throws {
        let file = try configFile(
            """
            # a production node
            max_connections: 100
            idle_timeout: 30
            max_channels: 7
            log_level: debug
            """)
        let fileOnly = try load(["--config", file])
        XCTAssertEqual(fileOnly.configuration.maxConnections, 100)
        XCTAssertEqual(fileOnly.configuration.webSocket.idleTimeout, .seconds(30))
        XCTAssertEqual(fileOnly.configuration.logLevel, .debug)
        XCTAssertEqual(fileOnly.source(of: Self.setting("max-connections")), .file(path: file, line: 2))

        let environment = ["HELLO_SOCKETS_MAX_CONNECTIONS": "200", "HELLO_SOCKETS_IDLE_TIMEOUT": "40"]
        let withEnvironment = try load(["--config", file], environment: environment)
        XCTAssertEqual(withEnvironment.configuration.maxConnections, 200)
        XCTAssertEqual(withEnvironment.configuration.webSocket.idleTimeout, .seconds(40))
        XCTAssertEqual(
            withEnvironment.configuration.maxChannelsPerSocket, 7, "the file still sets what the environment doesn't")
        XCTAssertEqual(
            withEnvironment.source(of: Self.setting("max-connections")), .environment("HELLO_SOCKETS_MAX_CONNECTIONS"))

        let withFlag = try load(["--config", file, "--max-connections", "300"], environment: environment)
        XCTAssertEqual(withFlag.configuration.maxConnections, 300)
        XCTAssertEqual(withFlag.configuration.webSocket.idleTimeout, .seconds(40))
        XCTAssertEqual(withFlag.source(of: Self.setting("max-connections")), .commandLine("--max-connections"))
    }

    func testConfigFileFromTheEnvironment() throws {
        let file = try configFile("max_connections: 123\n")
        let loaded = try load([], environment: ["HELLO_SOCKETS_CONFIG": file])
        XCTAssertEqual(loaded.configuration.maxConnections, 123)
        XCTAssertEqual(loaded.configFile, file)
    }

    func testLegacyVariablesRankBelowTheirNewNames() throws {
        let secret = String(repeating: "s", count: 40)
        let legacy = try load([], environment: ["PORT": "4100", "SECRET_KEY_BASE": secret])
        XCTAssertEqual(legacy.configuration.port, 4100)
        XCTAssertEqual(legacy.configuration.secretKeyBase, secret)
        let both = try load([], environment: ["PORT": "4100", "HELLO_SOCKETS_PORT": "4200"])
        XCTAssertEqual(both.configuration.port, 4200)
        XCTAssertEqual(try load(["--port", "4300"], environment: ["PORT": "4100"]).configuration.port, 4300)
    }

    func testEveryKindOfValueFromEachSource() throws {
        let file = try configFile(
            """
            deflate: false
            check_origin: true
            allowed_origin: [https://example.com, //*.example.org]
            public: \(channels)
            """)
        let loaded = try load(
            ["--config", file, "--no-watch", "--trace", "--lua-memory-mb=32"],
            environment: ["HELLO_SOCKETS_OBSERVE": "false"])
        let configuration = loaded.configuration
        XCTAssertNil(configuration.webSocket.deflate)
        XCTAssertEqual(configuration.checkOrigin, true)
        XCTAssertEqual(configuration.allowedOrigins, ["https://example.com", "//*.example.org"])
        XCTAssertEqual(configuration.publicDirectory, channels)
        XCTAssertFalse(configuration.watchChannels)
        XCTAssertTrue(configuration.trace)
        XCTAssertEqual(configuration.lua.memoryLimit, 32 << 20)
        XCTAssertEqual(configuration.observe, false)
        let listed = try load(
            ["--allowed-origin", "https://a.example", "--allowed-origin=https://b.example"],
            environment: ["HELLO_SOCKETS_ALLOWED_ORIGIN": "https://c.example"])
        XCTAssertEqual(listed.configuration.allowedOrigins, ["https://a.example", "https://b.example"])
        let fromEnvironment = try load(
            [], environment: ["HELLO_SOCKETS_ALLOWED_ORIGIN": "https://c.example, //d.example"])
        XCTAssertEqual(fromEnvironment.configuration.allowedOrigins, ["https://c.example", "//d.example"])
    }

    // MARK: errors, each with its message

    func testUnknownKeyNamesFileLineAndSuggestion() throws {
        let file = try configFile("host: 127.0.0.1\nmax_conections: 5\n")
        XCTAssertEqual(
            problems(["--config", file]), ["\(file):2: max_conections: unknown key (did you mean max_connections?)"])
        let dashed = try configFile("max-connections: 5\n", name: "dashed.yml")
        XCTAssertEqual(
            problems(["--config", dashed]),
            ["\(dashed):1: max-connections: unknown key (did you mean max_connections?)"])
    }

    func testWrongTypesNameFileLineKeyAndExpectation() throws {
        let file = try configFile(
            """
            max_connections: many
            idle_timeout: "30"
            deflate: maybe
            allowed_origin: {a: b}
            host: [a, b]
            """)
        XCTAssertEqual(
            problems(["--config", file]),
            [
                "\(file):1: max_connections: expected a whole number of connections from 1 to 10000000, got many",
                "\(file):2: idle_timeout: expected a whole number of seconds from 1 to 86400, got \"30\" (quoted text)",
                "\(file):3: deflate: expected true or false, got maybe",
                "\(file):4: allowed_origin: expected a list of texts, got a mapping",
                "\(file):5: host: expected a text value, got a list",
            ])
    }

    func testOutOfRangeValuesFromEverySource() throws {
        let file = try configFile("max_message_size: 100\n")
        XCTAssertEqual(
            problems(["--config", file]),
            ["\(file):1: max_message_size: expected a whole number of bytes from 125 to 1073741824, got 100"])
        XCTAssertEqual(
            problems([], environment: ["HELLO_SOCKETS_PORT": "70000"]),
            ["HELLO_SOCKETS_PORT: expected a whole number from 0 to 65535, got \"70000\""])
        XCTAssertEqual(
            problems(["--idle-timeout", "0"]),
            ["--idle-timeout: expected a whole number of seconds from 1 to 86400, got \"0\""])
        XCTAssertEqual(
            problems(["--log-level", "loud"]),
            ["--log-level: expected one of trace, debug, info, notice, warning, error, critical, got \"loud\""])
    }

    func testFractionalSecondsAndCheckedListItems() throws {
        let file = try configFile("lua_callback_timeout: 0.5\nhttp_allow: [api.internal, \"127.0.0.1:4100\"]\n")
        let loaded = try load(["--config", file])
        XCTAssertEqual(loaded.configuration.luaCallbackTimeout, .milliseconds(500))
        XCTAssertEqual(loaded.configuration.httpAllow.map(\.description), ["api.internal", "127.0.0.1:4100"])
        let bad = try configFile("lua_callback_timeout: soon\nhttp_allow: [http://x/y]\n", name: "bad.yml")
        XCTAssertEqual(problems(["--config", bad]), [
            "\(bad):1: lua_callback_timeout: expected a number of seconds from 0.001 to 3600, got soon",
            "\(bad):2: http_allow: \"http://x/y\" is not HOST or HOST:PORT (e.g. api.internal, 127.0.0.1:4100)",
        ])
        XCTAssertEqual(problems(["--http-allow", "ok.example", "--http-allow", "http://x/y"]),
                       ["--http-allow: \"http://x/y\" is not HOST or HOST:PORT (e.g. api.internal, 127.0.0.1:4100)"])
        XCTAssertEqual(problems([], environment: ["HELLO_SOCKETS_HTTP_ALLOW": "a.example,b/c"]),
                       ["HELLO_SOCKETS_HTTP_ALLOW: \"b/c\" is not HOST or HOST:PORT (e.g. api.internal, 127.0.0.1:4100)"])
    }

    func testAbuseLimitsFromFlagsAndEnvironment() throws {
        let loaded = try load(
            ["--client-message-rate", "50.5", "--client-message-burst", "10", "--client-throttle-grace", "0.5",
             "--join-rate", "0", "--max-connections-per-ip", "200", "--trusted-proxy", "10.0.0.0/8",
             "--trusted-proxy", "::1"],
            environment: ["HELLO_SOCKETS_CONNECT_RATE_PER_IP": "5", "HELLO_SOCKETS_JOIN_BURST": "3"])
        let socket = loaded.configuration.socketLimits, address = loaded.configuration.addressLimits
        XCTAssertEqual(socket.messageRate, 50.5)
        XCTAssertEqual(socket.messageBurst, 10)
        XCTAssertEqual(socket.throttleGrace, .milliseconds(500))
        XCTAssertEqual(socket.joinRate, 0, "0 turns the join limit off")
        XCTAssertEqual(socket.joinBurst, 3)
        XCTAssertEqual(address.maxConnectionsPerAddress, 200)
        XCTAssertEqual(address.connectRatePerAddress, 5)
        XCTAssertEqual(address.trustedProxies.map(\.description), ["10.0.0.0/8", "::1/128"])
        XCTAssertEqual(try load([]).configuration.socketLimits, SocketLimits(), "the defaults: 100/s, 200, 10 s, 10/s, 20")
        XCTAssertEqual(problems(["--client-message-burst", "0", "--trusted-proxy", "10.0.0.0/33", "--join-rate", "-1"]), [
            "--client-message-burst: expected a whole number of messages from 1 to 1000000, got \"0\"",
            "--trusted-proxy: 10.0.0.0/33: the prefix length must be 0 to 32 (expected CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32)",
            "--join-rate: expected a number of joins a second from 0 to 1000000, got \"-1\"",
        ])
    }

    func testYAMLSyntaxErrorNamesTheLine() throws {
        let file = try configFile("host: 127.0.0.1\nmax_connections: [1, 2\nport: 4000\n")
        let found = problems(["--config", file])
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertTrue(
            found.first?.hasPrefix("\(file):") == true && found.first?.contains("YAML syntax") == true, "\(found)")
    }

    func testDuplicateKeyAndNonMappingFiles() throws {
        let twice = try configFile("port: 1\nport: 2\n")
        XCTAssertEqual(problems(["--config", twice]).first?.contains("port"), true)
        let list = try configFile("- port\n- host\n", name: "list.yml")
        XCTAssertEqual(
            problems(["--config", list]), ["\(list):1: expected a mapping of settings (key: value), got a list"])
    }

    func testMissingConfigFile() {
        let path = folder.appendingPathComponent("absent.yml").path
        XCTAssertEqual(problems(["--config", path]), ["\(path): cannot read the config file (no such file)"])
    }

    func testUnknownFlagsAndMissingValues() {
        XCTAssertEqual(
            problems(["--max-conections", "5"]),
            [
                "unknown flag --max-conections (did you mean --max-connections?); see --help",
                "unexpected argument \"5\" (flags start with --; see --help)",
            ])
        XCTAssertEqual(problems(["--port"]), ["--port: needs a value (PORT)"])
        XCTAssertEqual(problems(["--no-port"]), ["unknown flag --no-port; see --help"])
    }

    func testShortSecretIsRefusedWhereverItCameFrom() throws {
        let advice = "expected at least 32 bytes, got 5 (make one with: openssl rand -base64 48)"
        XCTAssertEqual(problems([], environment: ["SECRET_KEY_BASE": "short"]), ["SECRET_KEY_BASE: \(advice)"])
        let file = try configFile("secret_key_base: short\n")
        XCTAssertEqual(problems(["--config", file]), ["\(file):1: secret_key_base: \(advice)"])
        XCTAssertEqual(problems(["--secret-key-base", "short"]), ["--secret-key-base: \(advice)"])
    }

    func testCrossSettingRulesNameTheirSource() throws {
        let file = try configFile("tls_cert: \(folder.appendingPathComponent("missing.pem").path)\n")
        let found = problems(["--config", file, "--api-token", "short", "--public", "/nonexistent-folder"])
        XCTAssertEqual(
            found,
            [
                "--public: no folder at /nonexistent-folder",
                "\(file):1: tls_cert: needs tls-key too (the certificate's private key)",
                "\(file):1: tls_cert: cannot read \(folder.appendingPathComponent("missing.pem").path)",
                "--api-token: expected at least 16 characters, got 5",
            ])
        let channels = SettingsLoader(arguments: [], environment: ["HELLO_SOCKETS_CHANNELS": "/nonexistent-channels"])
        XCTAssertThrowsError(try channels.load()) { error in
            XCTAssertEqual(
                (error as? SettingsError)?.description, "HELLO_SOCKETS_CHANNELS: no folder at /nonexistent-channels")
        }
    }

    func testEveryProblemIsReportedNotJustTheFirst() throws {
        let file = try configFile("max_connections: 0\nbogus: 1\n")
        XCTAssertEqual(
            problems(["--config", file, "--port", "x"], environment: ["HELLO_SOCKETS_IDLE_TIMEOUT": "-1"]).count, 4)
    }

    // MARK: warnings

    func testSecretsOnTheCommandLineAreWarnedAbout() throws {
        let loaded = try load([
            "--secret-key-base", String(repeating: "k", count: 32), "--api-token", "0123456789abcdef",
        ])
        XCTAssertEqual(
            loaded.warnings,
            [
                "--secret-key-base on the command line is visible to every user of this machine (ps, /proc): "
                    + "set $SECRET_KEY_BASE or put secret_key_base in the config file",
                "--api-token on the command line is visible to every user of this machine (ps, /proc): "
                    + "set $HELLO_SOCKETS_API_TOKEN or put api_token in the config file",
            ])
        XCTAssertEqual(try load([], environment: ["SECRET_KEY_BASE": String(repeating: "k", count: 32)]).warnings, [])
    }

    func testUnknownVariablesAreWarnedAbout() throws {
        let loaded = try load([], environment: ["HELLO_SOCKETS_MAX_CONECTIONS": "5"])
        XCTAssertEqual(
            loaded.warnings,
            [
                "HELLO_SOCKETS_MAX_CONECTIONS is not a setting (did you mean HELLO_SOCKETS_MAX_CONNECTIONS?); it is ignored"
            ])
    }

    // MARK: reload

    func testReloadAppliesReloadableChangesAndReportsTheRest() throws {
        let running = try load([]).configuration
        let reloaded = try load(["--max-connections", "5", "--host", "0.0.0.0", "--log-level", "debug"]).configuration
        let reload = SettingsReload(running: running, reloaded: reloaded)
        XCTAssertEqual(reload.configuration.maxConnections, 5)
        XCTAssertEqual(reload.configuration.logLevel, .debug)
        XCTAssertEqual(reload.configuration.host, running.host, "the address needs a restart")
        XCTAssertEqual(reload.applied.map(\.description), ["max_connections 16384 -> 5", "log_level info -> debug"])
        XCTAssertEqual(reload.needRestart.map(\.description), ["host 127.0.0.1 -> 0.0.0.0"])
        let back = SettingsReload(running: try load(["--check-origin"]).configuration, reloaded: running)
        XCTAssertNil(back.configuration.checkOrigin, "an optional setting no longer given returns to automatic")
    }

    static func setting(_ name: String) -> Setting {
        Setting.all.first { $0.name == name }!
    }
}
