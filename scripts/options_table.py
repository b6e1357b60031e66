"""Writes docs/options.md: every key of jaxseg.config.schema.base_config() and
every preset option and name, with the tests that train with it (or otherwise use it) and fail if it does
nothing. Fails, listing them, on a key without a row, a row without a key, or a named test that does not
exist. Run from the repository root: PYTHONPATH=$PWD python scripts/options_table.py"""

import re
import sys
from pathlib import Path

import tests.test_detection_options_act as det
import tests.test_options_act as act
import tests.test_presets_train as pt
from jaxseg.config.schema import base_config
from jaxseg.models.presets import PRESETS

OA = "tests/test_options_act.py"
DA = "tests/test_detection_options_act.py"
PT = "tests/test_presets_train.py"


def walk(c, prefix=""):
    for k, v in c.items():
        if hasattr(v, "items"):
            yield from walk(v, prefix + k + ".")
        else:
            yield prefix + k


# Keys not in a recorded run: (tests, what makes them fail if the key did nothing).
OTHER = {
    "name": (["tests/test_seed_configs.py::test_every_config_loads"],
             "names the run only (logs, model-info); no training value can depend on it"),
    "data.source": (["tests/test_data_2d.py::test_isbi_membranes_are_class_1_of_one_slice_volumes",
                     "tests/test_data_2d.py::test_kaggle_dsb_layout_equals_the_instance_maps",
                     "tests/test_data_2d.py::test_dicom_series_folders_with_seg_and_nifti_labels"],
                    "each layout's reader gives recorded label sums; every recorded run reads phantom/msd data "
                    "through it"),
    "data.root": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values",
                   "tests/test_data_cli.py::test_a_config_without_data_root_says_to_set_it"],
                  "the recorded runs read the tiny phantoms from it; unset is an error naming the key"),
    "data.num_test": (["tests/test_data_index.py::test_split_keeps_subjects_together_and_is_seeded",
                       ],
                      "split sizes asserted; the recorded runs' training sets depend on it (tiny: 1)"),
    "data.test_cases": (["tests/test_splits.py::test_pinned_test_cases_take_their_subjects_and_the_seed_draws_the_rest",
                         "tests/test_splits.py::test_split_command_lists_the_split_that_training_uses"],
                        "the pinned split (the one training uses) is asserted case by case"),
    "data.val_cases": (["tests/test_splits.py::test_pinned_val_and_test_cases_from_a_text_file"],
                       "the pinned validation cases are asserted"),
    "data.cache_dir": (["tests/test_data_prepare.py::test_prepare_is_idempotent_and_redoes_changed_cases",
                        "tests/test_data_cli.py::test_prepare_needs_a_cache_place"],
                       "the prepared cases are found in that folder"),
    "data.sampler": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[blocks]",
                      f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[pairs]",
                      "tests/test_data_fit.py::test_fit_trains_on_3d_blocks_and_resumes_their_order"],
                     "blocks: 3D kernels and recorded values; pairs: 2-channel propagation run's recorded values"),
    "data.workers": (["tests/test_data_samplers.py::test_grain_workers_give_the_same_batches_and_report_errors"],
                     "by design no value changes: worker processes must give the same batches (asserted)"),
    "prepare.on_error": (["tests/test_data_prepare.py::test_bad_cases_are_skipped_named_and_counted",
                          "tests/test_bad_inputs.py::test_prepare_skips_and_lists_bad_cases_and_exits_1"],
                         "skip counts and names bad cases; fail stops"),
    "prepare.slice_size": (["tests/test_pad_rule.py::test_resized_slices_match_too",
                            "tests/test_configs_2d.py::test_config_trains_tiny"],
                           "resized slices asserted; the 2D configs' recorded tiny runs (slow) train on resized "
                           "slices"),
    "sampling.tile_size": (["tests/test_valid_padding.py::"
                            "test_a_valid_padding_unet_trains_and_validates_by_overlap_tile",
                            "tests/test_valid_padding.py::test_valid_padding_settings_that_cannot_work_are_errors"],
                           "the valid-padding run trains on tiles of this size"),
    "augment.device": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[slices]",
                        "tests/test_device_augment.py::test_device_augmented_run_resumes_bitwise_and_differs_from_no_augmentation"],
                       "recorded run + ablation; device transforms equal the scipy path"),
    "phantom.num_cases": (["tests/test_synthetic.py::test_dataset_layout"], "the generated dataset's case count"),
    "phantom.shape": (["tests/test_synthetic.py::test_phantom_anatomy_and_hounsfield_units"], "generated volume shape"),
    "phantom.spacing_mm": (["tests/test_synthetic.py::test_phantom_is_stored_lps_with_matching_affine"],
                           "affine spacing"),
    "phantom.seed": (["tests/test_synthetic.py::test_cases_and_seeds_differ"], "different seeds, different phantoms"),
    "model.name": (["tests/test_model_config.py::test_a_preset_selected_by_name_with_its_seed_count",
                    "tests/test_model_presets.py::test_preset_parameter_counts_match_the_seeds"],
                   "the built network's exact parameter count; see the preset rows below"),
    "model.num_classes": (["tests/test_model_config.py::test_a_sigmoid_head_has_one_output_per_foreground_class"],
                          "output channels asserted; the recorded runs train 5 classes (demo), 2 (pairs)"),
    "model.in_channels": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[pairs]",
                           "tests/test_model_config.py::test_a_preset_selected_by_name_with_its_seed_count"],
                          "2 inputs (image, prior) in the pairs run; 4-input count of kayalibay_concat"),
    "model.features": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[slices]",
                        "tests/test_model_config.py::test_config_keys_override_the_preset"],
                       "the runs' frame (widths (8, 16), (4, 8, 8)); overriding the preset asserted"),
    "model.padding": (["tests/test_valid_padding.py::test_a_valid_padding_unet_trains_and_validates_by_overlap_tile",
                       "tests/test_valid_padding.py::test_the_train_step_compares_the_output_with_the_labels_centre"],
                      "valid padding: output 60 for input 100, labels cropped to it"),
    "model.dtype": (["tests/test_engine.py::test_bf16_and_remat_train_and_remat_recomputes_the_forward (slow)",
                     "tests/test_deep_supervision_train.py::test_deep_supervision_trains_under_accumulation_bf16_and_remat"],
                    "bf16 trains (loss falls by 0.8x); a recorded bf16 value would tie the test to one CPU's bf16 "
                    "rounding"),
    "model.remat": (["tests/test_engine.py::test_bf16_and_remat_train_and_remat_recomputes_the_forward (slow)"],
                    "by design no value changes; the compiled step must recompute the forward (more convolutions, "
                    "asserted); on CPU at test sizes its peak memory does not drop"),
    "inference.batch_size": (["tests/test_train.py::test_tiny_end_to_end_with_the_cli"],
                             "by design no value changes (slices per forward pass); every run sets it"),
    "train.steps": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values"],
                    "metrics.jsonl holds exactly steps 1-3"),
    "train.log_every": (["tests/test_run_faults.py::test_checkpoint_every_is_independent_of_log_every"],
                        "logged steps asserted"),
    "train.val_every": (["tests/test_engine.py::test_best_checkpoint_by_a_smoothed_metric"],
                        "validated steps carry metrics; the recorded runs read val_dice at step 3"),
    "train.checkpoint_every": (["tests/test_run_faults.py::test_checkpoint_every_is_independent_of_log_every"],
                               "checkpointed steps asserted"),
    "train.keep_checkpoints": (["tests/test_train.py::test_best_checkpoint_is_kept_with_the_latest"],
                               "kept steps asserted"),
    "train.best_metric": (["tests/test_engine.py::test_best_checkpoint_by_a_smoothed_metric"],
                          "iou: best restores the step of highest val_iou_ema"),
    "train.best_metric_ema": (["tests/test_engine.py::test_best_checkpoint_by_a_smoothed_metric"],
                              "ema values 0.5, 0.7, 0.45 asserted; best restores its step"),
    "train.grad_accum_steps": (["tests/test_engine.py::test_gradient_accumulation_equals_the_full_batch"],
                               "also in the many run"),
    "train.exact_reductions": (["tests/test_exact_sum.py::test_exact_reductions_replace_float_all_reduces",
                                "tests/test_multihost.py::test_sharded_and_multi_process_runs_train_like_one_device"],
                               "True: the compiled step has integer, not float, all-reduces, and 2 processes x 2 "
                               "devices give bitwise the parameters of 1 x 4; False: float all-reduces"),
    "mesh.data": (["tests/test_multihost.py::test_sharded_and_multi_process_runs_train_like_one_device",
                   "tests/test_multihost.py::test_meshes_that_do_not_fit_are_config_errors"],
                  "sharded runs equal the one-device run"),
    "mesh.spatial": (["tests/test_multihost.py::test_spatial_partitioning_divides_per_device_memory (slow)"],
                     "per-device memory divided"),
    "inference.threshold": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[slices]",
                             f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[pairs]",
                             "tests/test_propagation_run.py::test_the_validator_thresholds_at_inference_threshold",
                             "tests/test_seed_configs.py::test_pig_ct_unet2d_trains_its_sigmoid_network_and_evaluation_thresholds"],
                            "sigmoid validation and slice propagation threshold at it"),
    "evaluate.overlay_cases": (["tests/test_evaluate_overlays.py::test_overlay_cases_sets_the_figure_rows"],
                               "rows of the overlay figure asserted for 0-3"),
    "io.max_voxels": (["tests/test_bad_inputs.py::test_claims_over_io_max_voxels_name_the_file_and_the_shape"],
                      "a file over the limit is refused, naming it"),
    "task": (["tests/test_detection_train.py::test_rsna_dicoms_train_and_evaluate_end_to_end",
              f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[pairs]",
              "tests/test_task_interface.py::test_a_task_registered_in_a_test_trains_resumes_and_evaluates"],
             "detection: Faster R-CNN's recorded losses; propagation: the pairs run's; a registered toy task trains"),
    "detection.boxes_csv": (["tests/test_detection_train.py::test_rsna_index_keeps_negatives_and_pads_batches"],
                            "the boxes read through it are asserted"),
    "detection.image_dir": (["tests/test_detection_train.py::test_rsna_index_keeps_negatives_and_pads_batches",
                             "tests/test_bad_inputs.py::test_box_csv_image_ids_cannot_leave_the_image_folder"],
                            "images read from it"),
    "detection.classes": (["tests/test_detection_train.py::test_rsna_index_keeps_negatives_and_pads_batches",
                           "tests/test_detection_train.py::test_rsna_dicoms_train_and_evaluate_end_to_end"],
                          "CSV labels map to class 1; AP reported per class name"),
    "detection.max_boxes": ([f"{DA}::test_max_boxes_pads_batches_and_refuses_more"],
                            "by design no value changes (padding); the batch's box axis and the error asserted"),
    "detection.frozen_convs": (["tests/test_detection_train.py::test_train_step_compiles_once_for_batches_of_four",
                                f"{DA}::test_frozen_convs_is_refused_for_a_backbone_without_vgg16_convolutions"],
                               "at 2, conv1_2 stays as initialised and conv2_1 changes in training (asserted); "
                               "refused with resnet_fpn, which has no VGG16 convolutions to freeze"),
    "detection.roi_positive_fraction": ([f"{DA}::test_sampler_settings_reach_the_training_loss[roi]",
                                         "tests/test_detection_targets.py::test_roi_sampling_bands_counts_and_labels"],
                                        "the loss's RoI sampler receives it; the 25 % cap (32 of 128) asserted"),
    "detection.rpn_iou": ([f"{DA}::test_sampler_settings_reach_the_training_loss[rpn]",
                           "tests/test_detection_targets.py::test_rpn_sampling_on_an_anchor_grid"],
                          "the loss's anchor sampler receives both IoUs; the sampler's bands asserted"),
    "detection.rpn_positive_fraction": ([f"{DA}::test_sampler_settings_reach_the_training_loss[rpn]",
                                         "tests/test_detection_targets.py::test_rpn_positives_are_capped_at_half_and_drawn_at_random"],
                                        "the loss's anchor sampler receives it; the cap asserted"),
    "detection.backbone": ([f"{DA}::test_the_backbone_key_builds_that_backbone"],
                           "VGG16's conv names vs ResNet stages"),
    "detection.backbone_weights": ([f"{DA}::test_backbone_weights_replace_the_initial_backbone"],
                                   "the state's conv1_1 kernel equals the file's"),
    "adversarial.enabled": ([f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[adversarial]",
                             "tests/test_adversarial.py::test_adversarial_config_trains_in_the_ordinary_loop"],
                            "the adversarial run's frame: segmenter + discriminator parameters"),
    "layout.image_dir": (["tests/test_configs_2d.py::test_config_trains_tiny",
                          "tests/test_data_2d.py::test_isbi_membranes_are_class_1_of_one_slice_volumes"],
                         "images read from it (recorded tiny runs on the real 2D sets, slow)"),
    "layout.mask_dir": (["tests/test_data_2d.py::test_isbi_membranes_are_class_1_of_one_slice_volumes"],
                        "masks read from it"),
    "layout.mask_suffix": (["tests/test_data_2d.py::test_chest_xray_lungs_take_the_ignore_value_as_background"],
                           "masks matched by it"),
    "layout.label_values": (["tests/test_data_2d.py::test_chest_xray_lungs_take_the_ignore_value_as_background"],
                            "mask values mapped to classes, asserted"),
    "layout.unlisted_values": (["tests/test_data_2d.py::test_axon_myelin_masks_map_stray_values_to_the_nearest_class"],
                               "nearest: stray values mapped; error: refused"),
    "layout.colour": (["tests/test_data_2d.py::test_dsb_nuclei_binary_border_and_colour"], "rgb vs gray channels"),
    "layout.nuclei_border": (["tests/test_data_2d.py::test_dsb_nuclei_binary_border_and_colour"], "class 2 outlines"),
    "layout.label_name": (["tests/test_data_2d.py::test_dicom_series_folders_with_seg_and_nifti_labels"],
                          "a config with layout.label_name = liver_mask reads each series folder's liver_mask "
                          "file (asserted); the reader refuses a folder without one"),
    "layout.class_names": (["tests/test_data_2d.py::test_dicom_series_folders_with_seg_and_nifti_labels",
                            "tests/test_io_2d.py::test_2d_label_maps_are_palette_images_with_a_sidecar_naming_the_classes"],
                           "class names in the index and the label-map sidecar"),
    "propagation.stop_after_empty": (["tests/test_propagation_run.py::test_the_validator_stops_after_empty_slices",
                                      "tests/test_inference.py::test_stop_rule_and_corrections_overwrite_outwards"],
                                     "validation Dice 14/15 without, 6/7 with the stop after one empty slice"),
    "propagation.correction_fractions": (["tests/test_propagation_run.py::"
                                          "test_evaluate_writes_curves_and_one_shot_predictions"],
                                         "the curve's points follow the fractions"),
}
LOSS_TESTS = ["tests/test_objective.py::test_every_key_a_loss_reads_changes_its_value",
              "tests/test_objective.py::test_every_loss_name_trains_one_step"]
MP = "tests/test_model_presets.py"
PRESET_COUNTED = {
    "unet": "tests/test_model_config.py::test_network_keys_default_to_the_presets_values",
    "unet2d_sigmoid": f"{MP}::test_unet2d_sigmoid_is_the_original_unet_with_batch_norm_and_one_output",
    "propagation_unet": f"{MP}::test_propagation_unet_has_two_inputs_biases_and_batch_norm",
    "propagation_resstrided": f"{MP}::test_propagation_resstrided_by_hand",
    "fpn_resnet": f"{MP}::test_fpn_resnet_is_resnet50_plus_the_fpn",
    "nnunet_3d": f"{MP}::test_nnunet_presets_by_hand", "nnunet_2d": f"{MP}::test_nnunet_presets_by_hand",
}
PRESET_TRAINED = {
    "unet": [f"{OA}::test_a_run_with_many_options_gives_its_recorded_values"],
    "ronneberger2015": ["tests/test_valid_padding.py::test_a_valid_padding_unet_trains_and_validates_by_overlap_tile"],
    "pig_ct_2d": ["tests/test_seed_configs.py::"
                  "test_pig_ct_unet2d_trains_its_sigmoid_network_and_evaluation_thresholds"],
    "pig_ct_3d": ["tests/test_seed_configs.py::test_phantom_stand_ins_train"],
    "kayalibay_concat": ["tests/test_seed_configs.py::test_kayalibay_brats_trains_on_brats",
                         "tests/test_seed_configs.py::test_phantom_stand_ins_train"],
    "unet2d_sigmoid": ["tests/test_configs_2d.py::test_config_trains_tiny"],
    "propagation_unet": [f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[pairs]"],
    **{name: [f"{PT}::test_preset_trains_to_its_recorded_values[{name}]" + (" (slow)" if name in pt.SLOW else "")]
       for name in pt.CASES},
    "ciresan2012": [f"{PT}::test_ciresan2012_is_refused_for_training"],
}


def test_exists(ref: str) -> bool:
    path, _, name = ref.partition("::")
    name = re.sub(r"\[.*\]$", "", name)
    text = Path(path).read_text()
    return not name or re.search(rf"^def {re.escape(name)}\(", text, re.M) is not None


def main() -> int:
    keys = list(walk(base_config()))
    rows = {}
    for run, (_, sink, frame, _, _) in act.RUNS.items():
        for key in sink:
            rows.setdefault(key, ([], "recorded run + slow ablation: leaving it out changes the losses or val Dice"))
            rows[key][0].append(f"{OA}::test_a_run_with_many_options_gives_its_recorded_values[{run}]"
                                + ("" if run in act.DEFAULT_RUNS else " (slow)"))
            rows[key][0].append(f"{OA}::test_each_option_changes_the_run[{run}-{key}] (slow)")
    for key in det.SINK:
        rows[key] = ([f"{DA}::test_a_detection_run_with_many_options_gives_its_recorded_values (slow)",
                      f"{DA}::test_each_detection_option_changes_the_run[{key}] (slow)"],
                     "recorded run + slow ablation: losses or detections (count, summed score) change")
    for key, (tests, note) in OTHER.items():
        if key in rows:
            rows[key] = (rows[key][0] + tests, rows[key][1] + "; " + note)
        else:
            rows[key] = (tests, note)
    for key in keys:
        if key.startswith("loss.") and key not in rows:
            rows[key] = (LOSS_TESTS, "the config's loss changes value with it; every loss.name trains a step")
    missing = [k for k in keys if k not in rows]
    unknown = [k for k in rows if k not in keys]
    broken = [t for _, (tests, _) in rows.items() for t in tests if not test_exists(t.split(" ")[0])]
    if missing or unknown or broken:
        print("missing", missing, "\nunknown", unknown, "\nbroken", broken)
        return 1
    preset_options = sorted({o for p in PRESETS.values() for o in p.options})
    lines = ["# Every config key and preset option, and the test that shows it acts (issue 16)", "",
             "Generated by scripts/options_table.py over `jaxseg.config.schema.base_config()` (every key) and "
             "`jaxseg.models.presets."
             "PRESETS` (every option and name); it checks that each named test exists. `(slow)`: the ablation "
             "that leaves one key of a recorded run out (pytest -m slow); the default suite's recorded-value test "
             "fails if a key of its run stops acting, since the ablation showed each one changes the values.", "",
             f"## Config keys ({len(keys)})", "", "| key | test(s) | how it fails if the key did nothing |",
             "|---|---|---|"]
    for key in keys:
        tests, note = rows[key]
        lines.append(f"| `{key}` | {'<br>'.join(tests)} | {note} |")
    lines += ["", f"## Preset options ({len(preset_options)})", "",
              "Each is the config key `model.<option>`; its row above holds the test. `dilations` (ToyFCN) is "
              "set only through the presets plain_rf7 / dilated_rf15.", "", "| option | config key |", "|---|---|"]
    for option in preset_options:
        key = f"model.{option}"
        preset_only = "preset only: tests/test_model_presets.py::test_preset_receptive_fields (7 vs 15)"
        lines.append(f"| `{option}` | {'`' + key + '`' if key in keys else preset_only} |")
    lines += ["", f"## Presets ({len(PRESETS)})", "",
              "| model.name | built and counted (exact parameters) | trained in |", "|---|---|---|"]
    for name in PRESETS:
        trained = PRESET_TRAINED.get(name, ["not trained by a test (counted only)"])
        counted = PRESET_COUNTED.get(name, f"{MP}::test_preset_parameter_counts_match_the_seeds")
        assert test_exists(counted) and all(test_exists(t.split(" ")[0]) for t in trained if "::" in t), name
        lines.append(f"| `{name}` | {counted} | {'<br>'.join(trained)} |")
    (Path(__file__).resolve().parent.parent / "docs" / "options.md").write_text("\n".join(lines) + "\n")
    print(len(keys), "keys,", len(preset_options), "preset options,", len(PRESETS), "presets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
