import Crypto
import Foundation
import SwiftASN1
import X509

/// Throwaway TLS material for tests.
enum TLSFixture {
    /// A self-signed certificate for localhost and 127.0.0.1, and its key, as PEM.
    static func selfSigned() throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("localhost") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(3600),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([
                    .dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                ])
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// The self-signed pair written to `folder` as `cert.pem` and `key.pem`.
    static func writePEMFiles(to folder: URL) throws -> (certificate: URL, key: URL) {
        let (certificate, key) = try selfSigned()
        let certificateURL = folder.appendingPathComponent("cert.pem"),
            keyURL = folder.appendingPathComponent("key.pem")
        try certificate.write(to: certificateURL, atomically: true, encoding: .utf8)
        try key.write(to: keyURL, atomically: true, encoding: .utf8)
        return (certificateURL, keyURL)
    }
}
