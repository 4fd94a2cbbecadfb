// COMPILE-ONLY STUB of firebase-messaging 24.x; see EnhancedIntentService.java. FCM calls these
// callbacks on a worker thread; the tests call them the same way.
package com.google.firebase.messaging;

public class FirebaseMessagingService extends EnhancedIntentService {
    public FirebaseMessagingService() {}

    public void onMessageReceived(RemoteMessage message) {}

    public void onDeletedMessages() {}

    public void onNewToken(String token) {}
}
