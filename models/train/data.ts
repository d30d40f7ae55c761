// The SpamAssassin dataset code lives in the spam task's folder; kept here for the training script.
export { DATASET_NAME, loadSplits, type Message, type Splits } from '../../functions/tasks/spam/dataset';
