package dev.tapprove.keycloak;

import org.keycloak.credential.CredentialProvider;
import org.keycloak.credential.CredentialProviderFactory;
import org.keycloak.models.KeycloakSession;

/** Registers {@link TapproveCredentialProvider}. */
public final class TapproveCredentialProviderFactory
        implements CredentialProviderFactory<TapproveCredentialProvider> {
    static final String PROVIDER_ID = "tapprove-device";

    @Override
    public CredentialProvider<?> create(KeycloakSession session) {
        return new TapproveCredentialProvider(session);
    }

    @Override
    public String getId() {
        return PROVIDER_ID;
    }
}
