package dev.tapprove.keycloak;

import java.util.List;
import org.keycloak.Config;
import org.keycloak.authentication.RequiredActionFactory;
import org.keycloak.authentication.RequiredActionProvider;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

/** Registers the "Pair a phone with Tapprove" required action. */
public final class TapproveEnrollActionFactory implements RequiredActionFactory {
    /** The required action's id (also the account console's "Set up" action). */
    public static final String PROVIDER_ID = "tapprove-enroll";

    private static final TapproveEnrollAction SINGLETON = new TapproveEnrollAction();

    @Override
    public String getDisplayText() {
        return "Pair a phone with Tapprove";
    }

    /** "Maximum Age of Authentication": how recent a sign-in pairing a phone needs. */
    @Override
    public boolean isConfigurable() {
        return true;
    }

    @Override
    public List<ProviderConfigProperty> getConfigMetadata() {
        return MAX_AUTH_AGE_CONFIG_PROPERTIES;
    }

    @Override
    public RequiredActionProvider create(KeycloakSession session) {
        return SINGLETON;
    }

    @Override
    public void init(Config.Scope config) {}

    @Override
    public void postInit(KeycloakSessionFactory factory) {}

    @Override
    public void close() {}

    @Override
    public String getId() {
        return PROVIDER_ID;
    }
}
