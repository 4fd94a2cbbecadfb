package dev.tapprove.keycloak;

import org.keycloak.Config;
import org.keycloak.events.EventListenerProvider;
import org.keycloak.events.EventListenerProviderFactory;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;

/** Registers {@link TapproveEventListener} for every realm (global: nothing to switch on). */
public final class TapproveEventListenerFactory implements EventListenerProviderFactory {
    public static final String PROVIDER_ID = "tapprove";

    @Override
    public EventListenerProvider create(KeycloakSession session) {
        return new TapproveEventListener(session);
    }

    @Override
    public boolean isGlobal() {
        return true;
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
