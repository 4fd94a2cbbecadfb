package dev.tapprove.keycloak;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.provider.ProviderConfigProperty;
import org.keycloak.vault.VaultStringSecret;

/**
 * The realm's Tapprove settings: the authenticator config of the "Tapprove push" step. One home
 * for the names, defaults and validation; the enrollment action and the trust webhook read the
 * same config, so a realm has exactly one (several identical copies are fine).
 */
public final class TapproveConfig {
    static final String SERVICE_URL = "serviceUrl";
    static final String PUBLIC_SERVICE_URL = "publicServiceUrl";
    static final String API_KEY = "apiKey";
    static final String SDK_KEY = "sdkKey";
    static final String WEBHOOK_USERNAME = "webhookUsername";
    static final String WEBHOOK_PASSWORD = "webhookPassword";
    static final String WEBHOOK_SECRET = "webhookSecret";
    static final String PRESENCE = "presence";
    static final String TTL_SECONDS = "ttlSeconds";

    static final int DEFAULT_TTL = 120;
    static final List<String> PRESENCE_MODES = List.of("choose", "entry", "none");

    /** A missing or invalid setting; the message names it and says what to do. */
    public static final class ConfigException extends Exception {
        ConfigException(String message) {
            super(message);
        }
    }

    private final URI serviceUrl;
    private final URI publicServiceUrl;
    private final Secret apiKey;
    private final String sdkKey;
    private final Secret webhookUsername;
    private final Secret webhookPassword;
    private final Secret webhookSecret;
    private final String presence;
    private final int ttlSeconds;

    private TapproveConfig(
            URI serviceUrl,
            URI publicServiceUrl,
            Secret apiKey,
            String sdkKey,
            Secret webhookUsername,
            Secret webhookPassword,
            Secret webhookSecret,
            String presence,
            int ttlSeconds) {
        this.serviceUrl = serviceUrl;
        this.publicServiceUrl = publicServiceUrl;
        this.apiKey = apiKey;
        this.sdkKey = sdkKey;
        this.webhookUsername = webhookUsername;
        this.webhookPassword = webhookPassword;
        this.webhookSecret = webhookSecret;
        this.presence = presence;
        this.ttlSeconds = ttlSeconds;
    }

    /** The admin console form of the authenticator config. */
    static List<ProviderConfigProperty> properties() {
        return List.of(
                property(SERVICE_URL, "Service URL", "Where Keycloak reaches tapprove serve, e.g. https://tapprove.example (http only for loopback).", ProviderConfigProperty.STRING_TYPE, null, false),
                property(PUBLIC_SERVICE_URL, "Service URL for phones", "The URL phones use for the service, put in the enrollment link; empty = Service URL.", ProviderConfigProperty.STRING_TYPE, null, false),
                property(API_KEY, "API key", "The project's API key (tap_api_…), or a vault reference such as ${vault.tapprove-api-key}.", ProviderConfigProperty.PASSWORD, null, true),
                property(SDK_KEY, "SDK key", "The project's SDK key (tap_sdk_…), put in the enrollment link (not a secret).", ProviderConfigProperty.STRING_TYPE, null, false),
                property(WEBHOOK_USERNAME, "Webhook user name", "HTTP Basic user name the service sends to the trust webhook (the project id).", ProviderConfigProperty.STRING_TYPE, null, false),
                property(WEBHOOK_PASSWORD, "Webhook password", "HTTP Basic password of the trust webhook, or a vault reference.", ProviderConfigProperty.PASSWORD, null, true),
                property(WEBHOOK_SECRET, "Webhook signing secret", "The Standard Webhooks secret (whsec_…), or a vault reference.", ProviderConfigProperty.PASSWORD, null, true),
                property(PRESENCE, "Presence check", "choose: the phone offers three numbers, the user picks the one shown here; entry: the user types the code shown here; none: approve only (not recommended).", ProviderConfigProperty.LIST_TYPE, "choose", false),
                property(TTL_SECONDS, "Request lifetime (seconds)", "How long the phone may answer, 30–600.", ProviderConfigProperty.STRING_TYPE, String.valueOf(DEFAULT_TTL), false));
    }

    private static ProviderConfigProperty property(
            String name, String label, String help, String type, String defaultValue, boolean secret) {
        ProviderConfigProperty p = new ProviderConfigProperty(name, label, help, type, defaultValue, secret);
        if (PRESENCE.equals(name)) {
            p.setOptions(PRESENCE_MODES);
        }
        return p;
    }

    /** Reads and validates an authenticator config; secrets go through the realm's vault. */
    public static TapproveConfig from(KeycloakSession session, AuthenticatorConfigModel model)
            throws ConfigException {
        if (model == null || model.getConfig() == null) {
            throw new ConfigException(
                    "the Tapprove step has no configuration: open the flow in the admin console and add its settings (service URL, API key, …)");
        }
        return parse(model.getConfig(), value -> resolveVault(session, value));
    }

    /** Parsing and validation without Keycloak (vault resolution passed in), for tests. */
    static TapproveConfig parse(Map<String, String> c, UnaryOperator<String> vault) throws ConfigException {
        URI service = url(c, SERVICE_URL, required(c, SERVICE_URL));
        String publicRaw = c.getOrDefault(PUBLIC_SERVICE_URL, "");
        URI publicUrl = publicRaw == null || publicRaw.isBlank() ? service : url(c, PUBLIC_SERVICE_URL, publicRaw.trim());
        Secret apiKey = secret(c, API_KEY, vault);
        String sdkKey = required(c, SDK_KEY);
        Secret user = Secret.of(required(c, WEBHOOK_USERNAME));
        Secret password = secret(c, WEBHOOK_PASSWORD, vault);
        Secret signing = secret(c, WEBHOOK_SECRET, vault);
        String presence = c.getOrDefault(PRESENCE, "choose");
        presence = presence == null || presence.isBlank() ? "choose" : presence.trim().toLowerCase(Locale.ROOT);
        if (!PRESENCE_MODES.contains(presence)) {
            throw new ConfigException("Tapprove setting " + PRESENCE + " is " + presence + "; use choose, entry or none");
        }
        int ttl;
        String ttlRaw = c.getOrDefault(TTL_SECONDS, "");
        try {
            ttl = ttlRaw == null || ttlRaw.isBlank() ? DEFAULT_TTL : Integer.parseInt(ttlRaw.trim());
        } catch (NumberFormatException e) {
            throw new ConfigException("Tapprove setting " + TTL_SECONDS + " is not a number: " + ttlRaw);
        }
        if (ttl < 30 || ttl > 600) {
            throw new ConfigException("Tapprove setting " + TTL_SECONDS + " is " + ttl + "; use 30–600 seconds");
        }
        return new TapproveConfig(service, publicUrl, apiKey, sdkKey, user, password, signing, presence, ttl);
    }

    /**
     * The realm's config: every "Tapprove push" step in the realm's flows must carry the same
     * settings (the webhook and the enrollment page have no step of their own to read them from).
     */
    public static TapproveConfig forRealm(KeycloakSession session, RealmModel realm) throws ConfigException {
        List<AuthenticatorConfigModel> configs =
                realm.getAuthenticationFlowsStream()
                        .flatMap(flow -> realm.getAuthenticationExecutionsStream(flow.getId()))
                        .filter(e -> TapproveAuthenticatorFactory.PROVIDER_ID.equals(e.getAuthenticator()))
                        .map(e -> e.getAuthenticatorConfig())
                        .filter(Objects::nonNull)
                        .map(realm::getAuthenticatorConfigById)
                        .filter(Objects::nonNull)
                        .toList();
        if (configs.isEmpty()) {
            throw new ConfigException(
                    "realm " + realm.getName() + " has no configured Tapprove push step: add it to a flow and configure it");
        }
        long distinct = configs.stream().map(AuthenticatorConfigModel::getConfig).distinct().count();
        if (distinct > 1) {
            throw new ConfigException(
                    "realm " + realm.getName() + " has " + distinct + " different Tapprove configurations; use one (same values in every flow)");
        }
        return from(session, configs.get(0));
    }

    private static String resolveVault(KeycloakSession session, String value) {
        try (VaultStringSecret s = session.vault().getStringSecret(value)) {
            return s.get().orElse(null);
        }
    }

    private static String required(Map<String, String> c, String name) throws ConfigException {
        String v = c.get(name);
        if (v == null || v.isBlank()) {
            throw new ConfigException("Tapprove setting " + name + " is empty; set it in the step's configuration");
        }
        return v.trim();
    }

    private static Secret secret(Map<String, String> c, String name, UnaryOperator<String> vault)
            throws ConfigException {
        String raw = required(c, name);
        String resolved = vault.apply(raw);
        if (resolved == null || resolved.isEmpty()) {
            throw new ConfigException(
                    "Tapprove setting " + name + " refers to a vault secret that the vault does not have (" + raw
                            + "); add it to the realm's vault or put the value in the configuration");
        }
        return Secret.of(resolved);
    }

    private static URI url(Map<String, String> c, String name, String raw) throws ConfigException {
        URI u;
        try {
            u = new URI(raw);
        } catch (URISyntaxException e) {
            throw new ConfigException("Tapprove setting " + name + " is not a URL: " + raw);
        }
        String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
        if (u.getHost() == null || !(scheme.equals("https") || scheme.equals("http"))) {
            throw new ConfigException("Tapprove setting " + name + " must be an http(s) URL with a host: " + raw);
        }
        if (scheme.equals("http") && SERVICE_URL.equals(name) && !isLoopback(u.getHost())) {
            throw new ConfigException(
                    "Tapprove setting " + name + " uses plain http to " + u.getHost()
                            + ": the API key would cross the network in clear; use https (http is allowed only for loopback)");
        }
        return u;
    }

    static boolean isLoopback(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        return h.equals("localhost") || h.startsWith("127.") || h.equals("[::1]") || h.equals("::1");
    }

    public RpClient client() {
        return new RpClient(serviceUrl, apiKey);
    }

    public URI publicServiceUrl() {
        return publicServiceUrl;
    }

    public String sdkKey() {
        return sdkKey;
    }

    public WebhookVerifier webhookVerifier() {
        return new WebhookVerifier(webhookUsername, webhookPassword, webhookSecret);
    }

    /** The pairing-code rules, keyed with this realm's webhook signing key. */
    public PairingCodeStore codeStore() {
        return new PairingCodeStore(webhookVerifier().digestKey());
    }

    public String presence() {
        return presence;
    }

    public int ttlSeconds() {
        return ttlSeconds;
    }

    @Override
    public String toString() {
        return "TapproveConfig[service=" + serviceUrl + ", presence=" + presence + ", ttl=" + ttlSeconds + "]";
    }
}
