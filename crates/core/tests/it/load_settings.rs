//! Issue 21 (per-model settings) and issue 17 (honest fit): a library model's
//! own context, KV cache type and device are kept, load the model with them,
//! and its fit counts them.

use hearth_core::view::LoadSettingsView;
use hearth_core::{CoreError, TurnOptions};
use tokio_util::sync::CancellationToken;

use crate::{Home, greedy_conversation, runtime};

fn total(app: &hearth_core::App, id: &str) -> u64 {
    app.library_view()
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .unwrap()
        .fit
        .total
}

#[test]
fn a_models_load_settings_are_kept_used_for_loading_and_counted_in_its_fit() {
    let home = Home::new();
    let app = home.open();
    let model = hearth_testkit::models::smollm2();
    let id = app.models().import(&model, false).unwrap().id;

    let form = app.load_settings_view(&id).unwrap();
    assert_eq!(form.settings, LoadSettingsView::default());
    assert_eq!(form.trained_context, Some(8192));
    assert_eq!(form.kv_types, ["f32", "f16", "q8_0"]);
    assert!(
        form.devices.iter().any(|d| d == "cpu"),
        "{:?}",
        form.devices
    );
    let default_total = total(&app, &id);

    let conv = greedy_conversation(&app, None);
    let options = TurnOptions {
        max_tokens: Some(4),
        ..TurnOptions::default()
    };
    let rt = runtime();
    let long = "word ".repeat(400);
    // The default context (the model's own, at most 4096) holds it.
    rt.block_on(app.send(&conv, &long, &options, CancellationToken::new(), |_| {}))
        .unwrap();

    // A context of 256 for this model: the fit shrinks, and the model loaded
    // before is loaded again with it, which the same message no longer fits.
    let small = LoadSettingsView {
        context_length: Some(256),
        ..LoadSettingsView::default()
    };
    let view = app.set_load_settings_view(&id, &small).unwrap();
    assert!(view.fit.total < default_total, "{view:?}");
    assert_eq!(app.load_settings_view(&id).unwrap().settings, small);
    let err = rt
        .block_on(app.send(&conv, &long, &options, CancellationToken::new(), |_| {}))
        .unwrap_err();
    assert!(matches!(err, CoreError::TooLong(_)), "{err}");

    // The KV cache at the precision it is kept in: q8_0 takes 34 bytes per
    // 32 values where f16 takes 64, f32 128.
    let at = |kv: &str| {
        let set = LoadSettingsView {
            context_length: Some(8192),
            kv_type: Some(kv.to_owned()),
            device: Some("cpu".to_owned()),
            threads: None,
        };
        app.set_load_settings_view(&id, &set).unwrap().fit.total
    };
    let (f32_total, f16_total, q8_total) = (at("f32"), at("f16"), at("q8_0"));
    // SmolLM2: 30 layers × 3 kv heads × 64 × 2 = 11,520 values a token.
    let values = 11_520u64 * 8192;
    assert_eq!(f32_total - f16_total, values * 2);
    assert_eq!(f16_total - q8_total, values / 32 * (64 - 34));
    // A fresh app reads them back.
    drop(app);
    let app = home.open();
    let kept = app.load_settings_view(&id).unwrap().settings;
    assert_eq!(kept.kv_type.as_deref(), Some("q8_0"));
    assert_eq!(kept.context_length, Some(8192));
}

#[test]
fn bad_load_settings_are_refused_and_change_nothing() {
    let home = Home::new();
    let app = home.open();
    let id = app
        .models()
        .import(&hearth_testkit::models::smollm2(), false)
        .unwrap()
        .id;
    let bad = [
        LoadSettingsView {
            context_length: Some(16),
            ..LoadSettingsView::default()
        },
        LoadSettingsView {
            kv_type: Some("q4_1".into()),
            ..LoadSettingsView::default()
        },
        LoadSettingsView {
            device: Some("tpu".into()),
            ..LoadSettingsView::default()
        },
        LoadSettingsView {
            threads: Some(0),
            ..LoadSettingsView::default()
        },
        LoadSettingsView {
            threads: Some(u32::MAX),
            ..LoadSettingsView::default()
        },
    ];
    for settings in &bad {
        let err = app.set_load_settings_view(&id, settings).unwrap_err();
        assert!(matches!(err, CoreError::Invalid(_)), "{settings:?}: {err}");
    }
    // A GPU this build or machine does not have.
    if !hearth_engine::available_devices().contains(&hearth_engine::DevicePreference::Cuda) {
        let cuda = LoadSettingsView {
            device: Some("cuda".into()),
            ..LoadSettingsView::default()
        };
        let err = app.set_load_settings_view(&id, &cuda).unwrap_err();
        assert!(err.to_string().contains("not available"), "{err}");
    }
    let err = app
        .set_load_settings_view("no-such-model", &LoadSettingsView::default())
        .unwrap_err();
    assert!(matches!(err, CoreError::ModelNotFound(_)), "{err}");
    assert_eq!(
        app.load_settings_view(&id).unwrap().settings,
        LoadSettingsView::default()
    );
}

#[test]
fn a_models_thread_count_is_kept_bounded_and_taken_at_start() {
    let home = Home::new();
    let app = home.open();
    let id = app
        .models()
        .import(&hearth_testkit::models::smollm2(), false)
        .unwrap()
        .id;
    let form = app.load_settings_view(&id).unwrap();
    assert_eq!(form.settings.threads, None);
    let cores = std::thread::available_parallelism().unwrap().get() as u32;
    assert_eq!(form.max_threads, cores * 2);
    assert!(form.threads_in_use >= 1);
    assert_eq!(app.models().startup_threads(), None);

    let err = app
        .set_load_settings_view(
            &id,
            &LoadSettingsView {
                threads: Some(form.max_threads + 1),
                ..LoadSettingsView::default()
            },
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("choose 1 to {}", form.max_threads)),
        "{err}"
    );

    let one = LoadSettingsView {
        threads: Some(1),
        ..LoadSettingsView::default()
    };
    app.set_load_settings_view(&id, &one).unwrap();
    drop(app);
    let app = home.open();
    assert_eq!(app.load_settings_view(&id).unwrap().settings, one);
    // The only (so the most recently used) model: a fresh app starts with
    // its thread count.
    assert_eq!(app.models().startup_threads(), Some(1));
}
