package dev.tapprove.keycloak;

import org.keycloak.credential.CredentialModel;
import org.keycloak.credential.CredentialProvider;
import org.keycloak.credential.CredentialTypeMetadata;
import org.keycloak.credential.CredentialTypeMetadataContext;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;

/**
 * Lists paired phones ({@link TapproveCredential}) as a two-factor credential type, so the
 * account console shows "Tapprove" with "Set up" (the enrollment action) and "Remove". Keycloak
 * removes the record without calling {@link #deleteCredential}; {@link TapproveEventListener}
 * revokes the phones at the service when the user's last record goes.
 */
final class TapproveCredentialProvider implements CredentialProvider<CredentialModel> {
    private final KeycloakSession session;

    TapproveCredentialProvider(KeycloakSession session) {
        this.session = session;
    }

    @Override
    public String getType() {
        return TapproveCredential.TYPE;
    }

    @Override
    public CredentialModel createCredential(RealmModel realm, UserModel user, CredentialModel model) {
        model.setType(TapproveCredential.TYPE);
        return user.credentialManager().createStoredCredential(model);
    }

    @Override
    public boolean deleteCredential(RealmModel realm, UserModel user, String credentialId) {
        return user.credentialManager().removeStoredCredentialById(credentialId);
    }

    @Override
    public CredentialModel getCredentialFromModel(CredentialModel model) {
        return model;
    }

    @Override
    public CredentialTypeMetadata getCredentialTypeMetadata(CredentialTypeMetadataContext context) {
        return CredentialTypeMetadata.builder()
                .type(TapproveCredential.TYPE)
                .category(CredentialTypeMetadata.Category.TWO_FACTOR)
                .displayName("tapproveCredentialDisplayName")
                .helpText("tapproveCredentialHelpText")
                .iconCssClass("kcAuthenticatorOTPClass")
                .createAction(TapproveEnrollActionFactory.PROVIDER_ID)
                .removeable(true)
                .build(session);
    }
}
