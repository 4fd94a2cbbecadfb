import Foundation
import Security

/// ``DeviceSigner`` with P-256 keys in the Secure Enclave (one per account). The private key
/// cannot leave the enclave; Rust receives the 65-byte public point and DER signatures
/// (`ecdsaSignatureMessageX962SHA256`), both of which the SDK accepts. On the simulator, which
/// has no Secure Enclave, keys are ordinary keychain keys.
public final class SecureEnclaveSigner: DeviceSigner, @unchecked Sendable {
    private let tagPrefix: String
    private let accessGroup: String?

    public init(tagPrefix: String = "dev.tapprove.device.", accessGroup: String? = nil) {
        self.tagPrefix = tagPrefix
        self.accessGroup = accessGroup
    }

    private func tag(_ alias: String) -> Data { Data((tagPrefix + alias).utf8) }

    private static var hasSecureEnclave: Bool {
        #if targetEnvironment(simulator)
        return false
        #else
        return true
        #endif
    }

    private static func failure(_ what: String, _ error: Unmanaged<CFError>?) -> AuthError {
        let reason = error.map { String(describing: $0.takeRetainedValue()) } ?? "unknown error"
        return AuthError.Platform(detail: "The Secure Enclave could not \(what) (\(reason)).")
    }

    public func createKey(alias: String) throws -> Data {
        try deleteKey(alias: alias)
        var privateAttrs: [String: Any] = [
            kSecAttrIsPermanent as String: true,
            kSecAttrApplicationTag as String: tag(alias),
        ]
        var error: Unmanaged<CFError>?
        // Usable after first unlock, without biometrics: answering is an explicit tap already.
        guard let access = SecAccessControlCreateWithFlags(nil, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
                                                           Self.hasSecureEnclave ? .privateKeyUsage : [], &error) else {
            throw Self.failure("set up key access", error)
        }
        privateAttrs[kSecAttrAccessControl as String] = access
        var attrs: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecPrivateKeyAttrs as String: privateAttrs,
        ]
        if Self.hasSecureEnclave { attrs[kSecAttrTokenID as String] = kSecAttrTokenIDSecureEnclave }
        if let accessGroup { attrs[kSecAttrAccessGroup as String] = accessGroup }
        guard let key = SecKeyCreateRandomKey(attrs as CFDictionary, &error) else {
            throw Self.failure("create a key", error)
        }
        return try Self.publicBytes(of: key)
    }

    public func publicKey(alias: String) throws -> Data? {
        guard let key = try privateKey(alias) else { return nil }
        return try Self.publicBytes(of: key)
    }

    public func sign(alias: String, message: Data) throws -> Data {
        guard let key = try privateKey(alias) else {
            throw AuthError.Platform(detail: "The device key for this account is missing; remove the account and pair again.")
        }
        var error: Unmanaged<CFError>?
        guard let signature = SecKeyCreateSignature(key, .ecdsaSignatureMessageX962SHA256, message as CFData, &error) else {
            throw Self.failure("sign", error)
        }
        return signature as Data
    }

    /// Secure Enclave keys: reported as hardware at pairing.
    public func keyProtection() throws -> KeyProtection {
        .hardware
    }

    public func deleteKey(alias: String) throws {
        var q: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag(alias),
        ]
        if let accessGroup { q[kSecAttrAccessGroup as String] = accessGroup }
        let status = SecItemDelete(q as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw AuthError.Platform(detail: "The keychain could not delete the device key (OSStatus \(status)).")
        }
    }

    private func privateKey(_ alias: String) throws -> SecKey? {
        var q: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag(alias),
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        if let accessGroup { q[kSecAttrAccessGroup as String] = accessGroup }
        var item: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            guard let item, CFGetTypeID(item) == SecKeyGetTypeID() else { return nil }
            return (item as! SecKey)
        case errSecItemNotFound: return nil
        default: throw AuthError.Platform(detail: "The keychain could not read the device key (OSStatus \(status)).")
        }
    }

    private static func publicBytes(of key: SecKey) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let pub = SecKeyCopyPublicKey(key),
              let data = SecKeyCopyExternalRepresentation(pub, &error) as Data? else {
            throw failure("export the public key", error)
        }
        return data // 65 bytes: 04 || X || Y
    }
}
