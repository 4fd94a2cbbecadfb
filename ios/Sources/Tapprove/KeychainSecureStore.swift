import Foundation
import Security

/// ``SecureStore`` in the iOS keychain (generic passwords of one service). Give an
/// `accessGroup` shared with the Notification Service Extension so it can read accounts.
///
/// Items are `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly` and carry no access control:
/// reads never require Face ID / Touch ID, so pushes can be verified in the background.
public final class KeychainSecureStore: SecureStore, @unchecked Sendable {
    private let service: String
    private let accessGroup: String?

    /// - Parameters:
    ///   - service: the keychain service name of the SDK's items.
    ///   - accessGroup: a keychain access group shared by the app and its extension.
    public init(service: String = "dev.tapprove", accessGroup: String? = nil) {
        self.service = service
        self.accessGroup = accessGroup
    }

    private func base(_ key: String? = nil) -> [String: Any] {
        var q: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecUseDataProtectionKeychain as String: true,
        ]
        if let key { q[kSecAttrAccount as String] = key }
        if let accessGroup { q[kSecAttrAccessGroup as String] = accessGroup }
        return q
    }

    private static func failure(_ status: OSStatus, _ action: String) -> AuthError {
        let text = SecCopyErrorMessageString(status, nil) as String? ?? "OSStatus \(status)"
        return AuthError.Platform(detail: "The keychain could not \(action) (\(text)); unlock the device and try again.")
    }

    public func get(key: String) throws -> Data? {
        var q = base(key)
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &item)
        switch status {
        case errSecSuccess: return item as? Data
        case errSecItemNotFound: return nil
        default: throw Self.failure(status, "read")
        }
    }

    public func set(key: String, value: Data) throws {
        let update: [String: Any] = [kSecValueData as String: value]
        var status = SecItemUpdate(base(key) as CFDictionary, update as CFDictionary)
        if status == errSecItemNotFound {
            var add = base(key)
            add[kSecValueData as String] = value
            add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            status = SecItemAdd(add as CFDictionary, nil)
        }
        guard status == errSecSuccess else { throw Self.failure(status, "save") }
    }

    public func delete(key: String) throws {
        let status = SecItemDelete(base(key) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw Self.failure(status, "delete") }
    }

    public func listKeys(prefix: String) throws -> [String] {
        var q = base()
        q[kSecReturnAttributes as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitAll
        var items: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &items)
        switch status {
        case errSecSuccess:
            let list = items as? [[String: Any]] ?? []
            return list.compactMap { $0[kSecAttrAccount as String] as? String }.filter { $0.hasPrefix(prefix) }
        case errSecItemNotFound: return []
        default: throw Self.failure(status, "list items")
        }
    }
}
