package dev.tapprove.keycloak;

import java.util.List;
import org.keycloak.Config;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

/** Registers the "Tapprove push" step for authentication flows. */
public final class TapproveAuthenticatorFactory implements AuthenticatorFactory {
    /** The provider id flows refer to. */
    public static final String PROVIDER_ID = "tapprove-push";

    private static final TapproveAuthenticator SINGLETON = new TapproveAuthenticator();

    @Override
    public String getDisplayType() {
        return "Tapprove push";
    }

    @Override
    public String getReferenceCategory() {
        return TapproveCredential.TYPE;
    }

    @Override
    public boolean isConfigurable() {
        return true;
    }

    @Override
    public AuthenticationExecutionModel.Requirement[] getRequirementChoices() {
        return REQUIREMENT_CHOICES;
    }

    @Override
    public boolean isUserSetupAllowed() {
        return true;
    }

    @Override
    public String getHelpText() {
        return "Sends a push with number matching to the user's paired phones through the Tapprove service; continues when the user approves.";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        return TapproveConfig.properties();
    }

    @Override
    public Authenticator create(KeycloakSession session) {
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
